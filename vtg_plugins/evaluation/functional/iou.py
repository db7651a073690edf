"""Temporal IoU variants used by the official evaluators.

Three definitions coexist in the official code and give different numbers on
degenerate windows, so each is kept separately:

* :func:`cross_iou` — moment_detr ``compute_temporal_iou_batch_cross``: the
  true union ``len_a + len_b - inter``; ``0/0`` gives NaN, an inverted window
  has a negative length.
* :func:`hull_iou` — moment_detr ``compute_temporal_iou_batch_paired``: the
  "union" is the convex hull ``max(ed) - min(st)`` and a zero hull gives 0.
* :func:`ego4d_iou` — EGO4D ``compute_IoU``: hull clamped at 0, ``x/0`` gives
  NaN (never a hit, as every comparison with NaN is False).

All take broadcastable ``[..., 2]`` arrays of ``(start, end)`` seconds.
"""
import numpy as np


def _split(a: np.ndarray, b: np.ndarray):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a[..., 0], a[..., 1], b[..., 0], b[..., 1]


def cross_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU with the true union (moment_detr's cross IoU), broadcasting.

    Args:
        a (np.ndarray): windows ``[..., 2]``.
        b (np.ndarray): windows ``[..., 2]``, broadcastable with ``a``.

    Returns:
        np.ndarray: IoU of the broadcast shape; NaN where the union is 0.
    """
    s1, e1, s2, e2 = _split(a, b)
    inter = np.clip(np.minimum(e1, e2) - np.maximum(s1, s2), 0, None)
    union = (e1 - s1) + (e2 - s2) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return inter / union


def hull_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU over the convex hull (moment_detr's paired IoU); 0 where the
    hull is 0."""
    s1, e1, s2, e2 = _split(a, b)
    inter = np.maximum(0, np.minimum(e1, e2) - np.maximum(s1, s2))
    union = np.maximum(e1, e2) - np.minimum(s1, s2)
    out = np.zeros(np.broadcast(inter, union).shape)
    np.divide(inter, union, out=out, where=union != 0)
    return out


def ego4d_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of the EGO4D NLQ evaluator: hull clamped at 0, NaN when 0."""
    s1, e1, s2, e2 = _split(a, b)
    inter = np.maximum(0.0, np.minimum(e1, e2) - np.maximum(s1, s2))
    union = np.maximum(0.0, np.maximum(e1, e2) - np.minimum(s1, s2))
    with np.errstate(invalid='ignore', divide='ignore'):
        return 1.0 * inter / union
