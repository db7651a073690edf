"""TempCLR's training losses, registered in ``MODELS``.

- :class:`SymmetricContrastiveLoss`: VideoCLIP's in-batch contrastive loss
  (official ``MMContraLoss``).
- :class:`TemporalAlignmentLoss`: sentence-order contrast of HowTo100M
  pretraining (official ``AlignRetriTask.temporal_alignment``).
- :class:`StepAlignmentLoss`: step-order contrast of CrossTask fine-tuning
  (official ``AlignLocalTask.query_to_logits`` + cross-entropy).

The alignment losses compute the distances and the soft-min alignment in
``promote_types(dtype, float32)`` (see :mod:`.alignment`): half-precision
features give a float32 loss, float64 stays float64.
"""
import itertools
import math
import random
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vtg_plugins.registry import MODELS

from .alignment import (ALIGNMENT_METRICS, cosine_similarity_eps,
                        soft_alignment_cost)

#: ``(num_units) -> candidate orders of range(num_units), in trial order``
PermutationSource = Callable[[int], Iterable[Sequence[int]]]


def shuffled_permutations(num_units: int) -> List[tuple]:
    """All orders of ``range(num_units)``, shuffled with Python's global
    ``random`` (the official candidate list; its size is
    ``num_units!``)."""
    orders = list(itertools.permutations(range(num_units)))
    random.shuffle(orders)
    return orders


def non_overlapping_clips(text_start: Sequence, text_end: Sequence,
                          video_start: Sequence,
                          video_end: Sequence) -> List[int]:
    """Greedy left-to-right selection of clips that overlap no kept clip:
    clip ``i`` is kept when it starts after the last kept clip's end, in
    text and in video (official ``nonoverlapped_indices``).

    Args:
        text_start, text_end, video_start, video_end: one value per clip.

    Returns:
        The kept clip positions, ascending.
    """
    kept, last_text_end, last_video_end = [], -1, -1
    for i, (ts, te, vs, ve) in enumerate(
            zip(text_start, text_end, video_start, video_end)):
        if ts > last_text_end and vs > last_video_end:
            kept.append(i)
            last_text_end, last_video_end = te, ve
    return kept


def linspace_positions(length: int, num: int) -> List[int]:
    """``num`` positions spread over ``range(length)``: ``int`` of
    ``np.linspace(0, length - 1, num)`` (the official sub-sampling)."""
    return [int(f) for f in np.linspace(0, length - 1, num=num)]


def _zero_with_grad(*tensors: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero that depends on ``tensors`` (so every parameter that
    produced them still gets a (zero) gradient), in the losses' working
    dtype."""
    zero = sum(t.sum() for t in tensors) * 0
    return zero.to(torch.promote_types(zero.dtype, torch.float32))


def _check_metric(metric: str, lbda: float, owner: str) -> None:
    if metric not in ALIGNMENT_METRICS:
        raise ValueError(f'{owner}: unknown metric {metric!r}; expected one '
                         f'of {ALIGNMENT_METRICS}')
    if not lbda > 0:
        raise ValueError(f'{owner}: lbda must be > 0, got {lbda}')


@MODELS.register_module()
class SymmetricContrastiveLoss(nn.Module):
    """``CE(v t^T, arange) + CE(t v^T, arange)`` over the batch (official
    ``MMContraLoss``; raw dot products, no temperature)."""

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """
        Args:
            video: ``[N, H]`` pooled video embeddings.
            text: ``[N, H]`` pooled text embeddings; row ``i`` pairs with
                video row ``i``.

        Returns:
            A scalar.
        """
        if video.dim() != 2 or video.shape != text.shape:
            raise ValueError('SymmetricContrastiveLoss expects video and text '
                             f'[N, H] of one shape, got {list(video.shape)} '
                             f'and {list(text.shape)}')
        targets = torch.arange(len(video), device=video.device)
        return (F.cross_entropy(video @ text.t(), targets) +
                F.cross_entropy(text @ video.t(), targets))


@MODELS.register_module()
class TemporalAlignmentLoss(nn.Module):
    """Contrast the true sentence order of a video against shuffled ones.

    The ``N`` rows are ``N / clip_per_video`` videos of consecutive clips
    (a text row and a video row each). Per video: keep the clips that
    overlap no earlier kept clip (:func:`non_overlapping_clips`); a video
    with fewer than ``sampling_threshold`` of them is left out; otherwise
    ``sampling_threshold`` of them are picked (:func:`linspace_positions`).
    Their distances ``1 - cos_eps(text_i, video_j)`` form a ``T x T``
    matrix; the candidates are it and ``total_sample_size - 1`` copies with
    the sentence rows re-ordered (the first non-identity orders given by
    ``permutation_source``). Each candidate is aligned with the soft-min
    DTW or OTAM (both directions summed) over the transposed matrix (video
    clips as rows, sentences as columns, as the official rearrange does);
    the loss is the cross-entropy of ``-cost`` towards the true order,
    summed over the kept videos and divided by their count.

    Args:
        metric: ``'dtw'`` or ``'otam'``.
        clip_per_video: rows per video.
        sampling_threshold: clips per kept video (``T``).
        total_sample_size: candidates per video (the true order + negatives).
        lbda: soft-min temperature.
        eps: added to the cosine denominator.
        permutation_source: ``(T) -> orders of range(T)`` in trial order,
            called once per kept video; default :func:`shuffled_permutations`
            (the official list, shuffled with Python's ``random``).
    """

    def __init__(
            self,
            metric: str = 'dtw',
            clip_per_video: int = 16,
            sampling_threshold: int = 5,
            total_sample_size: int = 32,
            lbda: float = 0.1,
            eps: float = 0.01,
            permutation_source: Optional[PermutationSource] = None) -> None:
        super().__init__()
        _check_metric(metric, lbda, 'TemporalAlignmentLoss')
        if not 1 <= sampling_threshold <= clip_per_video:
            raise ValueError(
                'TemporalAlignmentLoss: sampling_threshold must be in [1, '
                f'clip_per_video={clip_per_video}], got {sampling_threshold}')
        if total_sample_size < 2:
            raise ValueError('TemporalAlignmentLoss: total_sample_size must '
                             f'be >= 2 (the true order and a negative), got '
                             f'{total_sample_size}')
        available = math.factorial(sampling_threshold) - 1
        if total_sample_size - 1 > available:
            raise ValueError(
                f'TemporalAlignmentLoss: total_sample_size={total_sample_size}'
                f' needs {total_sample_size - 1} negative orders, but '
                f'sampling_threshold={sampling_threshold} clips have only '
                f'{available} non-identity orders')
        self.metric = metric
        self.clip_per_video = clip_per_video
        self.sampling_threshold = sampling_threshold
        self.total_sample_size = total_sample_size
        self.lbda = lbda
        self.eps = eps
        self.permutation_source = permutation_source or shuffled_permutations

    def selected_rows(self, text_start: torch.Tensor, text_end: torch.Tensor,
                      video_start: torch.Tensor,
                      video_end: torch.Tensor) -> List[List[int]]:
        """Rows of the ``sampling_threshold`` clips picked in each kept
        video (videos left out have no entry).

        Args:
            text_start, text_end, video_start, video_end: ``[N]``.

        Returns:
            One list of ``T`` row indices (into the ``N`` rows) per kept
            video, in video order.
        """
        bounds = [
            t.tolist() for t in (text_start, text_end, video_start, video_end)
        ]
        selected = []
        for first in range(0, len(bounds[0]), self.clip_per_video):
            clips = non_overlapping_clips(*(b[first:first +
                                              self.clip_per_video]
                                            for b in bounds))
            if len(clips) >= self.sampling_threshold:
                picks = linspace_positions(len(clips), self.sampling_threshold)
                selected.append([first + clips[p] for p in picks])
        return selected

    def candidate_orders(self) -> List[List[int]]:
        """The identity and the first ``total_sample_size - 1`` non-identity
        orders of ``permutation_source(T)``: ``total_sample_size`` lists."""
        size = self.sampling_threshold
        identity = list(range(size))
        orders = [identity]
        for order in self.permutation_source(size):
            order = list(order)
            if sorted(order) != identity:
                raise ValueError(f'TemporalAlignmentLoss: permutation_source '
                                 f'gave {order}, not an order of '
                                 f'range({size})')
            if order != identity:
                orders.append(order)
                if len(orders) == self.total_sample_size:
                    return orders
        raise ValueError(
            f'TemporalAlignmentLoss: permutation_source({size}) gave only '
            f'{len(orders) - 1} non-identity orders; total_sample_size='
            f'{self.total_sample_size} needs {self.total_sample_size - 1}')

    def forward(self, pooled_video: torch.Tensor, pooled_text: torch.Tensor,
                text_start: torch.Tensor, text_end: torch.Tensor,
                video_start: torch.Tensor,
                video_end: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pooled_video: ``[N, H]``, ``N = num_videos * clip_per_video``.
            pooled_text: ``[N, H]``.
            text_start, text_end, video_start, video_end: ``[N]`` clip
                bounds (any unit; compared within a video only).

        Returns:
            A 0-dim loss; a zero still attached to the inputs' graph when no
            video keeps ``sampling_threshold`` clips.
        """
        self._check_inputs(pooled_video, pooled_text, text_start, text_end,
                           video_start, video_end)
        rows = self.selected_rows(text_start, text_end, video_start, video_end)
        if not rows:
            return _zero_with_grad(pooled_video, pooled_text)
        device = pooled_video.device
        work = torch.promote_types(pooled_video.dtype, torch.float32)
        rows = torch.tensor(rows, device=device)  # [V, T]
        text, video = pooled_text[rows].to(work), pooled_video[rows].to(work)
        dists = 1 - cosine_similarity_eps(text, video, self.eps)  # [V, T, T]
        # via numpy: much faster than torch.tensor on nested lists
        orders = torch.from_numpy(
            np.array([self.candidate_orders() for _ in range(len(rows))],
                     dtype=np.int64)).to(device)  # [V, S, T]
        videos = torch.arange(len(rows), device=device)[:, None, None]
        keys = dists[videos, orders]  # [V, S, T(sentences), T(clips)]
        costs = soft_alignment_cost(
            keys.transpose(-1, -2), self.metric, self.lbda)  # [V, S]
        targets = torch.zeros(len(rows), dtype=torch.long, device=device)
        return F.cross_entropy(-costs, targets, reduction='sum') / len(rows)

    def _check_inputs(self, pooled_video, pooled_text, *bounds) -> None:
        if pooled_video.dim() != 2 or pooled_video.shape != pooled_text.shape:
            raise ValueError(
                'TemporalAlignmentLoss expects pooled_video and pooled_text '
                f'[N, H] of one shape, got {list(pooled_video.shape)} and '
                f'{list(pooled_text.shape)}')
        num_rows = len(pooled_video)
        if num_rows % self.clip_per_video:
            raise ValueError(
                f'TemporalAlignmentLoss: {num_rows} rows are not a whole '
                f'number of videos of clip_per_video={self.clip_per_video}')
        names = ('text_start', 'text_end', 'video_start', 'video_end')
        for name, bound in zip(names, bounds):
            if tuple(bound.shape) != (num_rows, ):
                raise ValueError(f'TemporalAlignmentLoss: {name} has shape '
                                 f'{list(bound.shape)}, expected [{num_rows}]')


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
        _check_metric(metric, lbda, 'StepAlignmentLoss')
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
            return _zero_with_grad(step_text, frame_video)
        device = frame_video.device
        work = torch.promote_types(frame_video.dtype, torch.float32)
        num_frames = min(
            len(frame_video),
            len(sequence) * self.video_sampling_multiplier)
        keep = torch.tensor(
            linspace_positions(len(frame_video), num_frames), device=device)
        frames = frame_video[keep].to(work)
        _, run_lengths = torch.unique_consecutive(
            frame_steps[keep], return_counts=True)
        dists = 1 - cosine_similarity_eps(
            step_text.to(work), frames, self.eps)  # [K, F']
        step_orders, frame_orders = sample_step_negatives(
            sequence, run_lengths, self.total_sample_size - 1,
            self.inner_shuffling, self.generator)
        step_orders = torch.cat([sequence[None].cpu(), step_orders])
        frame_orders = torch.cat(
            [torch.arange(num_frames)[None], frame_orders])
        keys = dists[step_orders.to(device)[:, :, None],
                     frame_orders.to(device)[:, None, :]]  # [S_total, S, F']
        costs = soft_alignment_cost(keys, self.metric, self.lbda)
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
