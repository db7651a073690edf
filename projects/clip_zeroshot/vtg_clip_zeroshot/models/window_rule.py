"""The moments of the zero-shot baseline: every window of consecutive clips
scored by how much more salient it is than the rest of the video, then
hard NMS.

The rule, for a saliency curve ``s`` of ``T`` clips:

1. candidates: every window ``[a, b)`` of ``1 .. min(max_window_clips, T)``
   consecutive clips;
2. score: ``mean(s[a:b]) - mean(s outside [a, b))``; the window of the
   whole video, with nothing outside, scores 0;
3. in seconds: ``[a * clip_len, b * clip_len]``, clamped to the video
   (a window left empty by the clamping is dropped);
4. hard NMS (:func:`vtg_plugins.models.nms.nms_1d`: a window is dropped
   when its IoU with a better kept one is ``>= nms_thres``), keeping at most
   ``max_num_moment`` windows, best first.

On a curve that is flat outside a bump, the bump itself scores highest: a
window inside it has part of the bump outside, a window around it has flat
clips inside.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from vtg_plugins.models.nms import nms_1d


def contrast_windows(
        saliency: Tensor,
        max_window_clips: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Every window of ``1 .. max_window_clips`` clips and its contrast
    score (steps 1 and 2 of the module doc).

    Args:
        saliency (Tensor): ``[T]`` per-clip saliency, ``T >= 1``.
        max_window_clips (int, optional): longest window in clips; None:
            ``T``.

    Returns:
        tuple[Tensor, Tensor]: clip spans ``[N, 2]`` int64 ``(a, b)``
        (``b`` exclusive), by length then start, and their scores ``[N]``
        float32.
    """
    if saliency.dim() != 1 or saliency.numel() == 0:
        raise ValueError(f'saliency must be [T] with T >= 1, got shape '
                         f'{tuple(saliency.shape)}')
    if max_window_clips is not None and max_window_clips < 1:
        raise ValueError(f'max_window_clips must be >= 1 or None, got '
                         f'{max_window_clips}')
    t = saliency.numel()
    n = t if max_window_clips is None else min(max_window_clips, t)
    sal = saliency.detach().double().cpu()
    csum = torch.cat((sal.new_zeros(1), sal.cumsum(0)))
    lengths = torch.arange(1, n + 1)
    starts = torch.arange(t)
    a = starts[None, :].expand(n, t)
    b = a + lengths[:, None]
    valid = b <= t
    a, b = a[valid], b[valid]
    inside_sum = csum[b] - csum[a]
    inside_len = (b - a).double()
    outside_len = t - inside_len
    inside = inside_sum / inside_len
    outside = (csum[-1] - inside_sum) / outside_len.clamp(min=1)
    score = torch.where(outside_len > 0, inside - outside,
                        torch.zeros_like(inside))
    return torch.stack((a, b), dim=1), score.float()


def candidate_windows(saliency: Tensor,
                      clip_len: float,
                      max_window_clips: Optional[int] = None) -> Tensor:
    """The candidates of :func:`contrast_windows` in seconds from the first
    clip, unclamped: ``[N, 3]`` rows ``(start_s, end_s, score)``."""
    spans, score = contrast_windows(saliency, max_window_clips)
    return torch.cat((spans.float() * float(clip_len), score[:, None]), 1)


def select_moments(windows: Tensor, duration: float, nms_thres: float,
                   max_num_moment: int) -> Tensor:
    """Steps 3 and 4 of the module doc on candidate rows.

    Args:
        windows (Tensor): ``[N, 3]`` rows ``(start_s, end_s, score)`` in
            video seconds, any order.
        duration (float): video duration (s).
        nms_thres (float): IoU at which a worse window is dropped.
        max_num_moment (int): windows kept.

    Returns:
        Tensor: ``[K, 3]`` rows, best first, ``K <= max_num_moment``.
    """
    if windows.dim() != 2 or windows.size(1) != 3:
        raise ValueError('windows must be [N, 3] (start, end, score), got '
                         f'shape {tuple(windows.shape)}')
    rows = windows.detach().float().cpu().clone()
    rows[:, :2] = rows[:, :2].clamp(min=0, max=float(duration))
    rows = rows[rows[:, 1] > rows[:, 0]]
    if rows.size(0) == 0:
        return rows
    keep = nms_1d(rows[:, :2], rows[:, 2], nms_thres, max_num_moment)
    return rows[keep]
