"""1-D temporal segment operations shared by the grounding methods.

Windows are ``[..., 2]`` tensors in ``(start, end)`` order, in any unit
(seconds or clips) as long as both operands use the same one.
"""
import torch
from torch import Tensor

__all__ = ['segment_iou']


def segment_iou(windows1: Tensor, windows2: Tensor) -> Tensor:
    """Pairwise IoU of two sets of 1-D windows.

    Same arithmetic as ``nncore.ops.temporal_iou``: the intersection is
    clamped at 0, the union is ``len1 + len2 - inter``. Two zero-length
    windows give ``0 / 0 = nan`` (kept, the R²-Tuning NMS depends on it).

    Args:
        windows1 (Tensor): ``[N, 2]`` windows.
        windows2 (Tensor): ``[M, 2]`` windows.

    Returns:
        Tensor: ``[N, M]`` IoU values.
    """
    area1 = windows1[:, 1] - windows1[:, 0]
    area2 = windows2[:, 1] - windows2[:, 0]
    start = torch.max(windows1[:, None, 0], windows2[:, 0])
    end = torch.min(windows1[:, None, 1], windows2[:, 1])
    inter = (end - start).clamp(0)
    return inter / (area1[:, None] + area2 - inter)
