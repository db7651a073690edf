"""Shared model building blocks (no method-specific code)."""
from .nms import batched_nms_1d, nms_1d, seg_voting, soft_nms_1d
from .segment_ops import segment_iou

__all__ = [
    'segment_iou', 'batched_nms_1d', 'nms_1d', 'seg_voting', 'soft_nms_1d'
]
