"""Shared model building blocks (no method-specific code)."""
from .clip_encoder import (CLIP_ARCHS, CLIPEncoder, canonical_arch,
                           file_sha256, load_clip_weights)
from .nms import batched_nms_1d, nms_1d, seg_voting, soft_nms_1d
from .segment_ops import r2_postprocess, segment_iou

__all__ = [
    'r2_postprocess', 'segment_iou', 'CLIP_ARCHS', 'CLIPEncoder',
    'canonical_arch', 'file_sha256', 'load_clip_weights', 'batched_nms_1d',
    'nms_1d', 'seg_voting', 'soft_nms_1d'
]
