"""Inputs and outputs of the R²-Tuning model: cached CLIP features in the
official layouts (padded or as per-sample lists), the data-sample fields,
the grouping of a batch for prediction and the prediction fields."""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor

FeatureBatch = Union[Tensor, Sequence[Tensor]]


def sample_field(sample: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a dict or an MMEngine data element (both have
    ``get``; for a data element it covers metainfo and data fields)."""
    if sample is None:
        return default
    return sample.get(key, default)


def sample_name(sample: Any, index: int) -> str:
    """``qid=.. vid=..`` of a data sample, for error messages."""
    qid, vid = sample_field(sample, 'qid'), sample_field(sample, 'vid')
    return f'sample {index} (qid={qid!r}, vid={vid!r})'


def _pad(seqs: Sequence[Tensor], what: str) -> Tuple[Tensor, Tensor]:
    """Stack ``[T_i, ...]`` tensors into ``[B, T, ...]`` zero-padded, plus
    the ``[B, T]`` bool mask."""
    if len(seqs) == 0:
        raise ValueError(f'empty list of {what} features')
    shape = seqs[0].shape[1:]
    for i, x in enumerate(seqs):
        if x.shape[1:] != shape:
            raise ValueError(f'{what} features of sample {i} have shape '
                             f'{tuple(x.shape)}, sample 0 has '
                             f'{tuple(seqs[0].shape)}')
    lengths = torch.tensor([x.size(0) for x in seqs])
    out = seqs[0].new_zeros((len(seqs), int(lengths.max())) + shape)
    for i, x in enumerate(seqs):
        out[i, :x.size(0)] = x
    mask = torch.arange(out.size(1))[None] < lengths[:, None]
    return out, mask.to(out.device)


def _check_prefix_mask(mask: Tensor, what: str) -> Tensor:
    lengths = mask.sum(1)
    pos = torch.arange(mask.size(1), device=mask.device)
    prefix = pos[None] < lengths[:, None]
    if not torch.equal(prefix, mask):
        bad = (prefix != mask).any(1).nonzero()[:, 0].tolist()
        raise ValueError(f'{what} mask of samples {bad} is not a prefix '
                         '(valid positions first, then padding)')
    if (lengths == 0).any():
        bad = (lengths == 0).nonzero()[:, 0].tolist()
        raise ValueError(f'samples {bad} have no valid {what} position')
    return lengths


def parse_features(feats: FeatureBatch, mask: Optional[Tensor],
                   tokens: Optional[int], width: int,
                   what: str) -> Tuple[Tensor, Tensor, Tensor]:
    """Bring cached CLIP features to ``[B, T, K, (P,) C]`` (a view, no copy
    for padded tensors).

    Accepted layouts (``P`` only for video, ``tokens=None`` for query):
    the official flat ``[B, T, K*P*C]``, layer-first ``[B, K, T, (P,) C]``,
    or a list of per-sample ``[T_i, K*P*C]`` / ``[T_i, K, (P,) C]``
    tensors (zero-padded here).

    Args:
        feats: padded tensor or list of per-sample tensors.
        mask (Tensor, optional): ``[B, T]`` valid positions; default: the
            official rule, ``isfinite`` of feature 0 (padding is ``+inf``).
        tokens (int, optional): tokens per clip ``P``.
        width (int): channels ``C``.
        what (str): ``'video'`` or ``'query'`` for messages.

    Returns:
        tuple: features, bool mask ``[B, T]``, lengths ``[B]``.
    """
    if isinstance(feats, (list, tuple)):
        feats, list_mask = _pad(list(feats), what)
        mask = list_mask if mask is None else mask
        feats = feats.flatten(2)  # per-sample [T, K*P*C] or [T, K, P, C]
    inner = (tokens, width) if tokens else (width, )
    if feats.dim() == 3:
        if feats.size(2) % (torch.Size(inner).numel()) != 0:
            raise ValueError(
                f'{what} features have {feats.size(2)} channels per '
                f'position, not a multiple of {"x".join(map(str, inner))}')
        feats = feats.view(feats.shape[:2] + (-1, ) + inner)
    elif feats.dim() == 3 + len(inner) and feats.shape[3:] == inner:
        feats = feats.transpose(1, 2)
    elif feats.dim() != 3 + len(inner) or feats.shape[3:] != inner:
        raise ValueError(f'{what} features of shape {tuple(feats.shape)} '
                         f'match no accepted layout for {inner}')
    if mask is None:
        first = feats[(slice(None), slice(None)) + (0, ) * (feats.dim() - 2)]
        mask = first.isfinite()
    mask = mask.to(device=feats.device).bool()
    if mask.shape != feats.shape[:2]:
        raise ValueError(f'{what} mask shape {tuple(mask.shape)} does not '
                         f'match features {tuple(feats.shape[:2])}')
    return feats, mask, _check_prefix_mask(mask, what)


def pad_targets(data_samples: List[Any], num_clips: Tensor, t: int,
                need_windows: bool) -> Tuple[Optional[List[Tensor]], Tensor,
                                             Tensor]:
    """Training targets from data samples.

    Returns:
        tuple: GT windows in *clips* per sample (``None`` without
        regression), saliency ``[B, T]`` (0-padded), ``pos_clip`` ``[B]``.
    """
    if data_samples is None or len(data_samples) != num_clips.numel():
        got = None if data_samples is None else len(data_samples)
        raise ValueError('loss mode needs one data sample per video, got '
                         f'{got} for {num_clips.numel()} videos')
    device = num_clips.device
    saliency = torch.zeros(len(data_samples), t, device=device)
    pos_clip, windows = [], []
    for i, ds in enumerate(data_samples):
        n = int(num_clips[i])
        for key in ('saliency', 'pos_clip') + (
                ('gt_windows', 'fps') if need_windows else ()):
            if sample_field(ds, key) is None:
                raise KeyError(f'{sample_name(ds, i)} lacks {key!r}, needed '
                               'for the loss')
        sal = torch.as_tensor(sample_field(ds, 'saliency'),
                              dtype=torch.float32).flatten()
        if sal.numel() < n:
            raise ValueError(f'{sample_name(ds, i)}: saliency has '
                             f'{sal.numel()} clips, the video {n}')
        saliency[i, :n] = sal[:n].to(device)
        pos = int(torch.as_tensor(sample_field(ds, 'pos_clip')).flatten()[0])
        if not 0 <= pos < n:
            raise ValueError(f'{sample_name(ds, i)}: pos_clip {pos} outside '
                             f'the {n} clips')
        pos_clip.append(pos)
        if need_windows:
            win = torch.as_tensor(sample_field(ds, 'gt_windows'),
                                  dtype=torch.float32).reshape(-1, 2)
            win = win[win.isfinite().all(1)]
            if win.numel() == 0:
                raise ValueError(f'{sample_name(ds, i)} has no GT window')
            windows.append(win.to(device) * float(sample_field(ds, 'fps')))
    return (windows if need_windows else None, saliency,
            torch.tensor(pos_clip, device=device))


def group_by_size(lengths: List[int], row: int, limit: int) -> List[list]:
    """Consecutive index groups whose padded size ``len * max(T) * row``
    stays within ``limit`` (a sample over it forms a group alone)."""
    groups, current, longest = [], [], 0
    for i, t in enumerate(lengths):
        longest_if = max(longest, t)
        if current and (len(current) + 1) * longest_if * row > limit:
            groups.append(current)
            current, longest_if = [], t
        current.append(i)
        longest = longest_if
    return groups + [current] if current else groups


def with_predictions(sample: Any, pred: dict) -> Any:
    """``sample`` carrying the prediction fields of ``pred``."""
    if isinstance(sample, BaseDataElement):
        sample.set_data(pred)
        return sample
    return {**(sample or {}), **pred}
