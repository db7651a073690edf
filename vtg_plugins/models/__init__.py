"""Shared model building blocks (no method-specific code)."""
from .segment_ops import r2_postprocess, segment_iou

__all__ = ['r2_postprocess', 'segment_iou']
