"""MMPT's masked mean pooling of the tower states, and the text tower's
view of a caption row.

A caption row is ``[CLS] [SEP] tok_1 .. tok_n [SEP] [PAD] ..`` with
``cmasks`` on the non-pad part. The text tower reads ``[CLS] tok_1 ..
tok_n [SEP] [PAD] ..`` (the first ``[SEP]`` belongs to the video side);
the pooled text is the mean over ``tok_1 .. tok_n [SEP]``, without
``[CLS]``. The pooled video is the mean over the valid video tokens and the
video ``[SEP]``, without ``[CLS]``.
"""
from typing import Tuple

import torch


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``states [N, L, H]`` over the positions where ``mask [N, L]``
    is set -> ``[N, H]`` (in ``states``' dtype).

    Raises:
        ValueError: when a row of ``mask`` is empty.
    """
    if states.shape[:2] != mask.shape:
        raise ValueError(f'masked_mean: states {list(states.shape)} and mask '
                         f'{list(mask.shape)} differ in [N, L]')
    counts = mask.sum(1, keepdim=True)
    if bool((counts == 0).any()):
        rows = torch.nonzero(counts[:, 0] == 0)[:, 0].tolist()
        raise ValueError(f'masked_mean: rows {rows[:10]} have nothing to pool')
    weights = mask.to(states.dtype) / counts.to(states.dtype)
    return torch.bmm(weights[:, None, :], states)[:, 0]


def pool_video_states(states: torch.Tensor,
                      vmasks: torch.Tensor) -> torch.Tensor:
    """``states [N, Lv + 2, H]`` of ``[CLS] video [SEP]`` -> ``[N, H]``,
    the mean over the valid video tokens and ``[SEP]``."""
    ones = torch.ones_like(vmasks[:, :1], dtype=torch.bool)
    mask = torch.cat([~ones, vmasks.bool(), ones], dim=1)
    return masked_mean(states, mask)


def text_tower_inputs(
        caps: torch.Tensor,
        cmasks: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``caps``, ``cmasks [N, Lt]`` -> the text tower's ``input_ids`` and
    ``attention_mask`` ``[N, Lt - 1]``: ``[CLS]`` and ``caps[:, 2:]``."""
    if caps.dim() != 2 or caps.shape != cmasks.shape or caps.shape[1] < 3:
        raise ValueError('caps and cmasks must be [N, Lt] of one shape with '
                         f'Lt >= 3, got {list(caps.shape)} and '
                         f'{list(cmasks.shape)}')
    input_ids = torch.cat([caps[:, :1], caps[:, 2:]], dim=1)
    attention_mask = torch.cat([cmasks[:, :1], cmasks[:, 2:]], dim=1).bool()
    return input_ids, attention_mask


def pool_text_states(states: torch.Tensor,
                     cmasks: torch.Tensor) -> torch.Tensor:
    """``states [N, Lt - 1, H]`` of the text tower -> ``[N, H]``, the mean
    over the caption tokens and ``[SEP]`` (``cmasks[:, 2:]``)."""
    skip_cls = torch.zeros_like(cmasks[:, :1], dtype=torch.bool)
    return masked_mean(states, torch.cat([skip_cls, cmasks[:, 2:].bool()], 1))
