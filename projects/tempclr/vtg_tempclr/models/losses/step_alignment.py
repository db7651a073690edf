"""Step-order contrast of TempCLR's CrossTask fine-tuning (official
``AlignLocalTask.query_to_logits`` + cross-entropy)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from vtg_plugins.registry import MODELS

from ..alignment import (cosine_similarity_eps, gathered_alignment_cost,
                         working_dtype)
from .utils import check_metric, linspace_positions, zero_with_grad


def sample_step_negatives(sequence: torch.Tensor,
                          run_lengths: torch.Tensor,
                          num_negatives: int,
                          inner_shuffling: bool = True,
                          generator: Optional[torch.Generator] = None):
    """Negative candidates of :class:`StepAlignmentLoss`.

    Step orders: ``sequence[torch.randperm(S)]``, redrawn while the result
    equals ``sequence`` (value equality, as official). Frame orders: with
    ``inner_shuffling`` each negative shuffles the frames inside every run
    of ``run_lengths`` (runs keep their place), else the identity. All
    draws come from ``generator`` (the global RNG when None): per negative,
    its randperm draws, then (when accepted) one uniform key per frame.

    Args:
        sequence: ``[S]`` step ids, ``S >= 2`` and not all equal.
        run_lengths: ``[R]`` lengths of consecutive frame runs (sum ``F``).
        num_negatives: how many.
        inner_shuffling: shuffle the frames within runs.
        generator: a CPU ``torch.Generator``.

    Returns:
        ``(step_orders [n, S], frame_orders [n, F])`` long, on CPU.
    """
    sequence = sequence.cpu()
    if len(sequence) < 2 or bool((sequence == sequence[0]).all()):
        raise ValueError('sample_step_negatives: a sequence of one repeated '
                         f'step has no other order: {sequence.tolist()}')
    run_of_frame = torch.repeat_interleave(
        torch.arange(len(run_lengths)), run_lengths.cpu())
    step_orders, frame_orders = [], []
    while len(step_orders) < num_negatives:
        order = sequence[torch.randperm(len(sequence), generator=generator)]
        if torch.equal(order, sequence):
            continue
        step_orders.append(order)
        if inner_shuffling:
            keys = torch.rand(
                len(run_of_frame), dtype=torch.float64, generator=generator)
            frame_orders.append(torch.argsort(run_of_frame + keys))
        else:
            frame_orders.append(torch.arange(len(run_of_frame)))
    return torch.stack(step_orders), torch.stack(frame_orders)


@MODELS.register_module()
class StepAlignmentLoss(nn.Module):
    """Contrast the annotated step order of a video against shuffled ones.

    ``step_sequence`` is reduced to its consecutive-unique steps (``S``);
    the ``F`` annotated frames are sub-sampled to ``min(F, S *
    video_sampling_multiplier)`` (:func:`linspace_positions`). Distances
    ``1 - cos_eps(step_text_k, frame_f)`` ``[K, F']``; the candidates are
    the rows of ``step_sequence`` over all frames, and ``total_sample_size
    - 1`` negatives from :func:`sample_step_negatives` (re-ordered steps,
    frames shuffled within each run of equal ``frame_steps``). Each is
    aligned with the soft-min DTW or OTAM (both directions summed), steps as
    rows; the loss is the cross-entropy of ``-cost`` towards the true order.
    Unlike the official task (which skips the term), a sequence of fewer
    than two steps or fewer than two frames gives a zero attached to the
    graph.

    Args:
        metric: ``'dtw'`` or ``'otam'``.
        total_sample_size: candidates (the true order + negatives).
        video_sampling_multiplier: frames kept per step.
        inner_shuffling: shuffle frames within step runs in the negatives.
        lbda: soft-min temperature.
        eps: added to the cosine denominator.
        generator: CPU ``torch.Generator`` of the negatives (global RNG
            when None).
    """

    def __init__(self,
                 metric: str = 'dtw',
                 total_sample_size: int = 32,
                 video_sampling_multiplier: int = 10,
                 inner_shuffling: bool = True,
                 lbda: float = 0.1,
                 eps: float = 0.01,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        check_metric(metric, lbda, 'StepAlignmentLoss')
        if total_sample_size < 2:
            raise ValueError('StepAlignmentLoss: total_sample_size must be '
                             f'>= 2, got {total_sample_size}')
        if video_sampling_multiplier < 1:
            raise ValueError('StepAlignmentLoss: video_sampling_multiplier '
                             f'must be >= 1, got {video_sampling_multiplier}')
        self.metric = metric
        self.total_sample_size = total_sample_size
        self.video_sampling_multiplier = video_sampling_multiplier
        self.inner_shuffling = inner_shuffling
        self.lbda = lbda
        self.eps = eps
        self.generator = generator

    def forward(self, step_text: torch.Tensor, frame_video: torch.Tensor,
                step_sequence: torch.Tensor,
                frame_steps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            step_text: ``[K, H]`` embeddings of the task's steps.
            frame_video: ``[F, H]`` embeddings of the annotated frames.
            step_sequence: ``[S0]`` long, step ids in annotation order.
            frame_steps: ``[F]`` long, the step id of each frame.

        Returns:
            A 0-dim loss.
        """
        self._check_inputs(step_text, frame_video, step_sequence, frame_steps)
        sequence = torch.unique_consecutive(step_sequence)
        if len(sequence) < 2 or len(frame_video) < 2:
            return zero_with_grad(step_text, frame_video)
        device = frame_video.device
        num_frames = min(
            len(frame_video),
            len(sequence) * self.video_sampling_multiplier)
        keep = torch.tensor(
            linspace_positions(len(frame_video), num_frames), device=device)
        frames = frame_video.index_select(0, keep).to(
            working_dtype(frame_video.dtype))
        _, run_lengths = torch.unique_consecutive(
            frame_steps[keep], return_counts=True)
        dists = 1 - cosine_similarity_eps(
            step_text.to(frames.dtype), frames, self.eps)  # [K, F']
        step_orders, frame_orders = sample_step_negatives(
            sequence, run_lengths, self.total_sample_size - 1,
            self.inner_shuffling, self.generator)
        step_orders = torch.cat([sequence[None].cpu(), step_orders]).numpy()
        frame_orders = torch.cat(
            [torch.arange(num_frames)[None], frame_orders]).numpy()
        # candidate c: rows dists[step_orders[c]], columns frame_orders[c];
        # grids [S, F', S_total]
        grids = step_orders.T[:, None] * num_frames + frame_orders.T
        costs = gathered_alignment_cost(
            dists.reshape(-1), grids, self.metric, self.lbda)  # [S_total]
        target = torch.zeros(1, dtype=torch.long, device=device)
        return F.cross_entropy(-costs[None], target)

    @staticmethod
    def _check_inputs(step_text, frame_video, step_sequence,
                      frame_steps) -> None:
        if (step_text.dim() != 2 or frame_video.dim() != 2
                or step_text.shape[1] != frame_video.shape[1]):
            raise ValueError(
                'StepAlignmentLoss expects step_text [K, H] and frame_video '
                f'[F, H], got {list(step_text.shape)} and '
                f'{list(frame_video.shape)}')
        if tuple(frame_steps.shape) != (len(frame_video), ):
            raise ValueError(
                f'StepAlignmentLoss: frame_steps has shape '
                f'{list(frame_steps.shape)}, expected [{len(frame_video)}]')
        if step_sequence.dim() != 1:
            raise ValueError('StepAlignmentLoss: step_sequence must be 1-D, '
                             f'got shape {list(step_sequence.shape)}')
        if len(step_sequence) and not (0 <= int(step_sequence.min()) and int(
                step_sequence.max()) < len(step_text)):
            raise ValueError(
                f'StepAlignmentLoss: step_sequence {step_sequence.tolist()} '
                f'has ids outside [0, {len(step_text)}) of step_text')
