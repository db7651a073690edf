"""Moment retrieval metrics: R1@θ, R5@θ, mIoU and VOC-style mAP@θ.

Vectorized re-implementations of the per-query loops of
jayleicn/moment_detr ``standalone_eval/eval.py`` (``compute_mr_r1``,
``compute_mr_ap`` with ``compute_average_precision_detection``) and of
R²-Tuning's ``datasets/eval/evaluation.py`` (``compute_mr_r5``, mIoU).
Every function works on padded batches:

* ``pred``: ``[Q, P, 3]`` windows ``(start, end, score)`` in list order,
  NaN padding, with ``num_pred`` ``[Q]`` valid rows;
* ``gt``: ``[Q, M, 2]`` GT windows with a boolean ``gt_valid`` ``[Q, M]``
  (padding and, for length buckets, out-of-range windows are False).

Tie rules (documented because the official code leaves them to numpy):
R1 takes the first best GT (``np.argmax``: a NaN IoU counts as the maximum);
R5 the first best (pred, GT) pair in pred-major order after NaN→0; mAP sorts
predictions by score with a stable sort and visits the GTs of a prediction in
``argsort()[::-1]`` order of their IoU, i.e. NaN first, then descending,
ties by *decreasing* index (what numpy's insertion sort gives for the small
arrays of one query).
"""
from typing import Sequence

import numpy as np

from .iou import cross_iou, hull_iou

#: IoU thresholds of moment_detr's mAP and R1 (``float(f"{x:.2f}")``).
MAP_THRESHOLDS = tuple(float(f'{x:.2f}') for x in np.linspace(0.5, 0.95, 10))
#: R²-Tuning's R1/R5 thresholds (0.3 … 0.95).
R2_RECALL_THRESHOLDS = tuple(
    float(f'{x:.2f}') for x in np.linspace(0.3, 0.95, 14))


def _valid_pred(pred: np.ndarray, num_pred: np.ndarray) -> np.ndarray:
    return np.arange(pred.shape[1])[None] < num_pred[:, None]


def best_gt_index(pred0: np.ndarray, gt: np.ndarray,
                  gt_valid: np.ndarray) -> np.ndarray:
    """Index of the GT window with the highest (true-union) IoU.

    Args:
        pred0 (np.ndarray): ``[Q, 2]`` the first prediction of each query.
        gt (np.ndarray): ``[Q, M, 2]``.
        gt_valid (np.ndarray): ``[Q, M]`` bool.

    Returns:
        np.ndarray: ``[Q]`` index into ``M`` (first maximum; NaN wins).
    """
    iou = cross_iou(pred0[:, None, :2], gt)
    iou = np.where(gt_valid, iou, -np.inf)
    return np.argmax(iou, axis=1)


def r1_iou(pred: np.ndarray, num_pred: np.ndarray, gt: np.ndarray,
           gt_valid: np.ndarray) -> np.ndarray:
    """IoU of the first predicted window with its best GT window.

    The best GT is chosen with the true-union IoU, the reported IoU is the
    hull IoU (``compute_mr_r1``). Queries without predictions get 0.

    Returns:
        np.ndarray: ``[Q]`` float64.
    """
    pred0 = pred[:, 0, :2]
    idx = best_gt_index(pred0, gt, gt_valid)
    best = np.take_along_axis(gt, idx[:, None, None], axis=1)[:, 0]
    iou = hull_iou(pred0, best)
    return np.where(num_pred > 0, iou, 0.0)


def r5_iou(pred: np.ndarray,
           num_pred: np.ndarray,
           gt: np.ndarray,
           gt_valid: np.ndarray,
           k: int = 5) -> np.ndarray:
    """R²-Tuning's ``compute_mr_r5``: hull IoU of the best (pred, GT) pair.

    Among the first ``k`` predictions (list order) and the valid GT windows,
    the pair with the maximal true-union IoU (NaN→0, first pair in
    pred-major order on ties) is re-scored with the hull IoU.

    Returns:
        np.ndarray: ``[Q]`` float64; 0 for queries without predictions.
    """
    p = pred[:, :k, :2]
    iou = cross_iou(p[:, :, None, :], gt[:, None, :, :])
    iou = np.where(np.isnan(iou), 0.0, iou)
    valid = _valid_pred(p, np.minimum(num_pred, k))[:, :, None] \
        & gt_valid[:, None, :]
    iou = np.where(valid, iou, -np.inf).reshape(len(p), -1)
    flat = np.argmax(iou, axis=1)
    pi, gi = np.divmod(flat, gt.shape[1])
    rows = np.arange(len(p))
    out = hull_iou(p[rows, pi], gt[rows, gi])
    return np.where(num_pred > 0, out, 0.0)


def _sort_by_score(pred: np.ndarray, num_pred: np.ndarray) -> np.ndarray:
    """Stable descending sort of each query's valid rows by score."""
    valid = _valid_pred(pred, num_pred)
    key = np.where(valid, -pred[..., 2], np.inf)
    order = np.argsort(key, axis=1, kind='stable')
    return np.take_along_axis(pred, order[..., None], axis=1)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """VOC interpolated AP over the last axis (``interpolated_precision_
    recall``): envelope of ``[0, prec, 0]`` summed where ``[0, rec, 1]``
    changes. The sum is taken left to right, as the official code does for
    fewer than 8 recall changes (numpy's pairwise sum is sequential there).
    """
    shape = precision.shape[:-1]
    mprec = np.concatenate(
        [np.zeros(shape + (1, )), precision,
         np.zeros(shape + (1, ))], axis=-1)
    mrec = np.concatenate(
        [np.zeros(shape + (1, )), recall,
         np.ones(shape + (1, ))], axis=-1)
    env = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    step = mrec[..., 1:] - mrec[..., :-1]
    changed = mrec[..., 1:] != mrec[..., :-1]
    contrib = np.where(changed, step * env[..., 1:], 0.0)
    return np.cumsum(contrib, axis=-1)[..., -1]


def detection_ap(pred: np.ndarray,
                 num_pred: np.ndarray,
                 gt: np.ndarray,
                 gt_valid: np.ndarray,
                 thresholds: Sequence[float] = MAP_THRESHOLDS) -> np.ndarray:
    """Per-query AP at each IoU threshold (``compute_average_precision_
    detection`` with one video per query).

    Predictions are sorted by score (stable); each one, in that order, is
    matched greedily to the first unlocked GT (visited in descending IoU)
    whose IoU is ``>= θ`` (a NaN IoU also matches, as ``NaN < θ`` is False
    in the official loop); otherwise it is a false positive.

    Args:
        pred (np.ndarray): ``[Q, P, 3]`` (start, end, score), list order.
        num_pred (np.ndarray): ``[Q]`` number of valid predictions.
        gt (np.ndarray): ``[Q, M, 2]``.
        gt_valid (np.ndarray): ``[Q, M]`` bool; every query needs one.
        thresholds (Sequence[float]): IoU thresholds ``[T]``.

    Returns:
        np.ndarray: ``[Q, T]`` AP (0 for queries without predictions).
    """
    thr = np.asarray(thresholds, dtype=np.float64)
    pred = _sort_by_score(pred, num_pred)
    q, p_len, m = len(pred), pred.shape[1], gt.shape[1]
    pvalid = _valid_pred(pred, num_pred)
    iou = cross_iou(pred[:, :, None, :2], gt[:, None, :, :])  # [Q, P, M]
    nan = np.isnan(iou)
    key = np.where(nan, np.inf, iou)
    key = np.where(gt_valid[:, None, :], key, -np.inf)
    order = np.argsort(key, axis=-1, kind='stable')[..., ::-1]
    rank = np.empty_like(order)
    np.put_along_axis(
        rank, order, np.broadcast_to(np.arange(m), order.shape), axis=-1)
    ok = (iou[:, :, None, :] >= thr[:, None]) | nan[:, :, None, :]
    ok &= gt_valid[:, None, None, :] & pvalid[:, :, None, None]  # [Q,P,T,M]

    locked = np.zeros((q, len(thr), m), dtype=bool)
    tp = np.zeros((q, len(thr), p_len))
    qi = np.arange(q)[:, None]
    ti = np.arange(len(thr))[None, :]
    for j in range(p_len):
        cand = ok[:, j] & ~locked
        g = np.where(cand, rank[:, j, None, :], m).argmin(axis=-1)
        hit = cand.any(axis=-1)
        tp[:, :, j] = hit
        locked[qi, ti, g] |= hit
    fp = pvalid[:, None, :] & (tp == 0)
    tp_cum = np.cumsum(tp, axis=-1)
    fp_cum = np.cumsum(fp, axis=-1).astype(float)
    num_gt = gt_valid.sum(axis=1).astype(float)[:, None, None]
    with np.errstate(invalid='ignore', divide='ignore'):
        recall = tp_cum / num_gt
        precision = tp_cum / (tp_cum + fp_cum)
    ap = interpolated_ap(precision, recall)
    return np.where(num_pred[:, None] > 0, ap, 0.0)
