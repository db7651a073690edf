"""CrossTask step localisation with the TempCLR towers (official
``MMFusionSeparateActionLocalization`` + ``AlignLocalTask`` + the ``BCE``
loss + ``CrossTaskPredictor``)."""
from typing import Dict, Iterator, List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS
from .dual_encoder import TempCLRDualEncoder, rows_per_sample


class VideoRows(NamedTuple):
    """One video of a batch: its frame and step embeddings."""
    sample: BaseDataElement
    frames: torch.Tensor  #: ``[F, H]`` valid frames of every window
    steps: torch.Tensor  #: ``[K, H]`` pooled step texts
    frame_index: torch.Tensor  #: ``[F]`` long, each frame's time step


def _sample_field(sample: BaseDataElement, index: int, field: str):
    if field not in sample:
        raise ValueError(f'sample {index} has no {field!r}')
    return sample.get(field)


def window_frame_index(sample: BaseDataElement, index: int,
                       vmasks: torch.Tensor) -> torch.Tensor:
    """Time step of every valid frame of a video's windows, in window
    order: ``window_starts[j] + 0 .. window_lengths[j] - 1``.

    Args:
        sample: has ``window_starts``, ``window_lengths`` ``[W]`` and
            ``video_len`` ``T``.
        index: the sample's position in the batch (for errors).
        vmasks: ``[W, Lv]`` the windows' masks; window ``j`` must have
            ``window_lengths[j]`` valid frames.

    Returns:
        ``[F]`` long on ``vmasks``' device, ``F = vmasks.sum()``.
    """
    starts = torch.as_tensor(_sample_field(sample, index,
                                           'window_starts')).reshape(-1)
    lengths = torch.as_tensor(_sample_field(sample, index,
                                            'window_lengths')).reshape(-1)
    video_len = int(_sample_field(sample, index, 'video_len'))
    valid = vmasks.sum(1).cpu()
    if len(starts) != len(vmasks) or len(lengths) != len(vmasks):
        raise ValueError(f'sample {index}: {len(starts)} window_starts and '
                         f'{len(lengths)} window_lengths for {len(vmasks)} '
                         'windows')
    if not torch.equal(lengths.long(), valid.long()):
        raise ValueError(f'sample {index}: window_lengths {lengths.tolist()} '
                         f'differ from the valid frames of vmasks '
                         f'{valid.tolist()}')
    if bool((starts < 0).any()) or bool((starts + lengths > video_len).any()):
        raise ValueError(f'sample {index}: windows {starts.tolist()} + '
                         f'{lengths.tolist()} leave [0, {video_len})')
    index_parts = [
        torch.arange(int(s),
                     int(s) + int(n)) for s, n in zip(starts, lengths)
    ]
    return torch.cat(index_parts).to(vmasks.device)


@MODELS.register_module()
class TempCLRStepLocalizer(TempCLRDualEncoder):
    """Per-frame step scores ``frames @ steps^T`` for CrossTask.

    A sample is one video: its ``num_video_rows`` sliding windows (video
    rows) and its ``num_text_rows = K`` steps (caption rows). The windows go
    through the video tower with ``[CLS]`` masked out of the attention
    (official dummy caption ``[CLS] [SEP] [PAD] [SEP]`` with masks
    ``[0, 1, 0, 1]``, of which ``[:2]`` reach the tower); the states of the
    valid frames of all windows, in window order, are the ``F`` frame
    embeddings, and each step is a pooled caption. ``logits = frames @
    steps^T`` ``[F, K]``.

    Sample fields: ``window_starts``, ``window_lengths`` ``[W]``,
    ``video_len`` ``T``; for ``loss`` also ``targets [T, K]`` and (with a
    step alignment loss) ``step_sequence [S]``; ``predict`` keeps the
    sample's other fields (``gt_assignment``, ``task``, ``vid`` for
    ``CrossTaskMetric``).

    ``loss``: per video ``(1 - w) * BCEWithLogits(logits, targets of each
    frame)`` + ``w * step_alignment_loss(steps, labelled frames,
    unique_consecutive(step_sequence), argmax step of each labelled
    frame)``; the alignment term only while training and when the video has
    more than one distinct consecutive step and more than one labelled frame
    (else 0), as official. Frames of overlapping windows count once per
    window, as in the official loss. Returns ``loss_bce`` and
    ``loss_alignment`` (the weighted terms, averaged over the videos).

    ``predict``: ``pred_logits [T, K]`` (CPU), each frame's logits averaged
    over the windows that hold it (official ``CrossTaskPredictor``).
    ``mode='tensor'``: the ``logits [F, K]`` of every video.

    Args:
        step_alignment_loss (dict, optional): config of a
            ``StepAlignmentLoss``; None trains the BCE alone (then
            ``alignment_loss_weight`` is unused).
        alignment_loss_weight (float): ``w`` (official CrossTask 0.12).
        trainable (str): ``'all'`` (official CrossTask fine-tuning) or
            ``'layernorm'``.
        others: as :class:`TempCLRDualEncoder`.
    """

    def __init__(self,
                 bert_config: dict,
                 video_layers: int = 6,
                 input_dim: int = 512,
                 max_video_len: int = 32,
                 step_alignment_loss: Optional[dict] = None,
                 alignment_loss_weight: float = 0.12,
                 trainable: str = 'all',
                 cls_token_id: int = 101,
                 sep_token_id: int = 102,
                 bert_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = dict(
                     type='TempCLRDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            bert_config,
            video_layers=video_layers,
            input_dim=input_dim,
            max_video_len=max_video_len,
            contrastive_loss=None,
            alignment_loss=None,
            alignment_loss_weight=alignment_loss_weight,
            trainable=trainable,
            cls_token_id=cls_token_id,
            sep_token_id=sep_token_id,
            bert_checkpoint=bert_checkpoint,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.step_alignment_loss = MODELS.build(
            step_alignment_loss) if step_alignment_loss else None

    def videos(self, inputs: Dict[str, torch.Tensor],
               data_samples: List[BaseDataElement]) -> Iterator[VideoRows]:
        """Encode the batch's windows and steps once, then yield them per
        video."""
        vfeats, vmasks = inputs['vfeats'], inputs['vmasks'].bool()
        states = self.video_states(
            vfeats, vmasks, attend_cls=False)[:, 1:vfeats.shape[1] + 1]
        steps = self.encode_text(inputs['caps'], inputs['cmasks'])
        windows = rows_per_sample(data_samples, 'num_video_rows', len(vfeats))
        num_steps = rows_per_sample(data_samples, 'num_text_rows', len(steps))
        first_window = first_step = 0
        for i, sample in enumerate(data_samples):
            rows = slice(first_window, first_window + windows[i])
            yield VideoRows(sample, states[rows][vmasks[rows]],
                            steps[first_step:first_step + num_steps[i]],
                            window_frame_index(sample, i, vmasks[rows]))
            first_window += windows[i]
            first_step += num_steps[i]

    def tensor_outputs(
            self, inputs: Dict[str, torch.Tensor],
            data_samples: List[BaseDataElement]) -> List[torch.Tensor]:
        """``logits [F, K]`` of every video."""
        return [
            v.frames @ v.steps.t() for v in self.videos(inputs, data_samples)
        ]

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``loss_bce`` and ``loss_alignment`` (see the class doc)."""
        w = self.alignment_loss_weight if self.step_alignment_loss else 0.0
        bce_terms, alignment_terms = [], []
        for i, video in enumerate(self.videos(inputs, data_samples)):
            logits = video.frames @ video.steps.t()
            targets = self._frame_targets(video, i).to(logits.dtype)
            bce_terms.append(
                F.binary_cross_entropy_with_logits(logits, targets))
            if self.step_alignment_loss is not None:
                alignment_terms.append(self._step_alignment(video, targets, i))
        losses = dict(loss_bce=(1 - w) * torch.stack(bce_terms).mean())
        if self.step_alignment_loss is not None:
            losses['loss_alignment'] = w * torch.stack(alignment_terms).mean()
        return losses

    @staticmethod
    def _frame_targets(video: VideoRows, index: int) -> torch.Tensor:
        """``targets [T, K]`` of the sample at each frame -> ``[F, K]``."""
        targets = torch.as_tensor(
            _sample_field(video.sample, index, 'targets'))
        video_len = int(video.sample.get('video_len'))
        if tuple(targets.shape) != (video_len, len(video.steps)):
            raise ValueError(f'sample {index}: targets has shape '
                             f'{list(targets.shape)}, expected [{video_len}, '
                             f'{len(video.steps)}] (video_len, steps)')
        return targets.to(video.frames.device)[video.frame_index]

    def _step_alignment(self, video: VideoRows, targets: torch.Tensor,
                        index: int) -> torch.Tensor:
        """The step alignment loss of one video, or 0 where the official
        task skips it."""
        labelled = targets.abs().sum(1) > 0
        sequence = torch.as_tensor(
            _sample_field(video.sample, index, 'step_sequence')).reshape(-1)
        sequence = torch.unique_consecutive(sequence.long())
        if not self.training or len(sequence) < 2 or int(labelled.sum()) < 2:
            return video.frames.new_zeros(())
        return self.step_alignment_loss(video.steps, video.frames[labelled],
                                        sequence.to(video.frames.device),
                                        targets[labelled].argmax(1))

    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Set ``pred_logits [T, K]`` on each sample."""
        for i, video in enumerate(self.videos(inputs, data_samples)):
            logits = (video.frames @ video.steps.t()).detach()
            logits = logits.to(
                torch.promote_types(logits.dtype, torch.float32))
            video_len = int(video.sample.get('video_len'))
            sums = logits.new_zeros(video_len, logits.shape[1])
            sums.index_add_(0, video.frame_index, logits)
            counts = torch.bincount(video.frame_index, minlength=video_len)
            if bool((counts == 0).any()):
                missing = torch.nonzero(counts == 0)[:, 0].tolist()
                raise ValueError(f'sample {i}: frames {missing[:10]} are in '
                                 'no window')
            video.sample.set_field(
                (sums / counts[:, None].to(sums.dtype)).cpu(), 'pred_logits')
        return data_samples
