"""Highlight detection metrics: QVHighlights HL-mAP / HL-Hit1, YouTube
Highlights mAP and TVSum top-5 mAP.

* QVHighlights follows jayleicn/moment_detr ``standalone_eval/eval.py``
  (``eval_highlight``, ``get_ap`` on sklearn's ``precision_recall_curve``).
  sklearn is not needed: :func:`binary_ap` recomputes the curve.
* YouTube / TVSum follow yeliudev/R2-Tuning ``datasets/youtube.py`` and
  ``datasets/tvsum.py`` (``evaluate``): ranks from ``torch.argsort(...,
  descending=True)`` on float32 scores — the same call, so ties break as in
  the official code (that sort is not stable) — then a trapezoid AP.
  (torch is imported inside these two, so QVHighlights scoring needs
  numpy alone.)
"""
from typing import Dict, Sequence

import numpy as np

from ._utils import (GT, EvaluationError, as_scores, fmt2,
                     masked_row_reduce)

#: QVHighlights saliency levels: positive when the score is >= the level.
HL_LEVELS = (('Fair', 2), ('Good', 3), ('VeryGood', 4))


def binary_ap(scores: np.ndarray, labels: np.ndarray,
              valid: np.ndarray) -> np.ndarray:
    """moment_detr ``get_ap`` (interpolated, not 11-point) per row.

    Equals sklearn ``precision_recall_curve`` (tied scores form one
    threshold; points after full recall dropped; ``(1, 0)`` appended), a
    running max of precision from the high-recall end, recall cast to
    float32 and ``mean(precision[where(diff(recall))])``. A row whose labels
    are all 0 gives 0, all 1 gives 1.

    Args:
        scores (np.ndarray): ``[R, N]`` predicted scores (finite on valid).
        labels (np.ndarray): ``[R, N]`` bool.
        valid (np.ndarray): ``[R, N]`` bool; every row needs one True.

    Returns:
        np.ndarray: ``[R]`` AP in [0, 1].
    """
    n = scores.shape[1]
    key = np.where(valid, -scores, np.inf)
    order = np.argsort(key, axis=1, kind='stable')
    s = np.take_along_axis(scores, order, axis=1)
    v = np.take_along_axis(valid, order, axis=1)
    lab = np.take_along_axis(labels & valid, order, axis=1)
    nxt_v = np.concatenate([v[:, 1:], np.zeros((len(v), 1), bool)], axis=1)
    nxt_s = np.concatenate([s[:, 1:], s[:, -1:]], axis=1)
    group_end = v & (~nxt_v | (s != nxt_s))
    cum = np.cumsum(lab, axis=1).astype(np.float64)
    total = cum[:, -1:]
    precision = cum / np.arange(1, n + 1)
    prev = np.concatenate([
        np.zeros((len(v), 1)),
        np.maximum.accumulate(np.where(group_end, cum, 0.0), axis=1)[:, :-1]
    ],
                          axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        rec = (cum / total).astype(np.float32)
        prev_rec = (prev / total).astype(np.float32)
    env = np.maximum.accumulate(
        np.where(group_end, precision, 0.0)[:, ::-1], axis=1)[:, ::-1]
    selected = group_end & (rec != prev_rec)
    # the official array runs from the lowest threshold up: reverse the rows
    ap = masked_row_reduce(env[:, ::-1], selected[:, ::-1], np.mean)
    npos = total[:, 0]
    nvalid = valid.sum(axis=1)
    ap = np.where(npos == 0, 0.0, ap)
    return np.where(npos == nvalid, 1.0, ap)


def qvhighlights_hl(pred_scores: Sequence[np.ndarray],
                    gt_scores: Sequence[np.ndarray],
                    qids: Sequence = None) -> Dict[str, float]:
    """QVHighlights HL-mAP and HL-Hit1 at the Fair/Good/VeryGood levels.

    Args:
        pred_scores (Sequence[np.ndarray]): per query ``[L_i]`` saliency.
        gt_scores (Sequence[np.ndarray]): per query ``[n_i, 3]`` annotator
            scores in 0..4 over all ``n_i = int(duration / 2)`` clips.
        qids (Sequence, optional): query ids, only used in error messages.

    Returns:
        dict: ``HL-min-{level}-mAP`` and ``HL-min-{level}-Hit1`` (×100, two
        decimals), levels in the order Fair, Good, VeryGood.
    """
    q = len(pred_scores)
    qids = list(range(q)) if qids is None else qids
    n_gt = np.array([len(g) for g in gt_scores], dtype=np.int64)
    n_pred = np.array([len(p) for p in pred_scores], dtype=np.int64)
    for i in np.flatnonzero((n_gt == 0) | (n_pred == 0)):
        what = 'has no GT clips (duration < 2 s)' if n_gt[i] == 0 else \
            'has an empty pred_saliency_scores'
        raise EvaluationError(f'qid {qids[i]!r} {what}')
    n, lmax = int(n_gt.max()), int(n_pred.max())
    gt = np.zeros((q, n, 3))
    raw = np.full((q, lmax), -np.inf)
    for i, (p, g) in enumerate(zip(pred_scores, gt_scores)):
        gt[i, :n_gt[i]] = g
        raw[i, :n_pred[i]] = p
    if not np.isfinite(raw[np.arange(lmax)[None] < n_pred[:, None]]).all():
        bad = next(
            i for i in range(q)
            if not np.isfinite(np.asarray(pred_scores[i], dtype=float)).all())
        raise EvaluationError(
            f'qid {qids[bad]!r}: pred_saliency_scores has NaN/inf')
    valid = np.arange(n)[None] < n_gt[:, None]
    # truncate to / zero-pad up to the GT length (compute_ap_from_tuple)
    scores = np.where(
        np.arange(n)[None] < n_pred[:, None],
        np.pad(raw, ((0, 0), (0, max(n - lmax, 0))))[:, :n], 0.0)
    top = np.argmax(raw, axis=1)
    out = {}
    for name, level in HL_LEVELS:
        binary = gt >= level  # [Q, n, 3]
        ap = binary_ap(
            np.repeat(scores, 3, axis=0),
            binary.transpose(0, 2, 1).reshape(q * 3, n),
            np.repeat(valid, 3, axis=0)).reshape(q, 3)
        hit_rows = binary[np.arange(q), np.minimum(top, n - 1)]
        hit = np.where(top[:, None] < n_gt[:, None], hit_rows, 0.0)
        out[f'HL-min-{name}-mAP'] = fmt2(100 * np.mean(ap))
        out[f'HL-min-{name}-Hit1'] = fmt2(100 * np.mean(np.max(hit, 1)))
    return out


def _rank_desc(pred) -> np.ndarray:
    """Indices of ``torch.argsort(float32 pred, descending=True)``."""
    import torch
    t = torch.as_tensor(np.asarray(pred, dtype=np.float32))
    return torch.argsort(t, descending=True).numpy()


def _trapezoid_ap(label: np.ndarray) -> np.ndarray:
    """R²-Tuning's trapezoid AP over ranked 0/1 labels, per row.

    ``ap = Σ (rec_i − rec_{i−1}) · (prc_{i−1} + prc_i) / 2`` with
    ``prc_0 = 1, rec_0 = 0``, summed left to right (``np.cumsum`` is
    sequential, so it equals the official Python loop). Rows without a
    positive give 0. Zero padding at the end of a row adds exact zeros.

    Args:
        label (np.ndarray): ``[V, N]`` float 0/1 in ranked order.

    Returns:
        np.ndarray: ``[V]``.
    """
    num_gt = label.sum(axis=1, keepdims=True)
    hits = np.cumsum(label, axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        rec = hits / num_gt
    prc = hits / np.arange(1, label.shape[1] + 1)
    rec0 = np.concatenate([np.zeros((len(label), 1)), rec[:, :-1]], axis=1)
    prc0 = np.concatenate([np.ones((len(label), 1)), prc[:, :-1]], axis=1)
    terms = (rec - rec0) * (prc0 + prc) / 2
    ap = np.cumsum(terms, axis=1)[:, -1]
    return np.where(num_gt[:, 0] == 0, 0.0, ap)


def _seq_mean(x: np.ndarray) -> float:
    """``sum(x) / len(x)`` with Python's left-to-right sum."""
    return float(np.cumsum(x)[-1]) / len(x)


def youtube_map(preds: Sequence,
                matches: Sequence,
                vids: Sequence = None,
                per_video: bool = False):
    """YouTube Highlights mAP (R²-Tuning ``YouTubeHighlights.evaluate``).

    Args:
        preds (Sequence): per video ``[T_i]`` predicted saliency.
        matches (Sequence): per video the GT ``match`` list (``> 0`` is a
            highlight clip), at least as long as the prediction.
        vids (Sequence, optional): video ids for error messages.
        per_video (bool): also return the ``[V]`` per-video APs.

    Returns:
        float | tuple: ``round(mAP, 5)`` as a fraction (not ×100).
    """
    if len(preds) == 0:
        raise EvaluationError('youtube: no videos to evaluate')
    vids = list(range(len(preds))) if vids is None else vids
    preds = [
        as_scores(p, f'video {v!r} saliency') for p, v in zip(preds, vids)
    ]
    matches = [
        as_scores(m, f'video {v!r} match', GT) for m, v in zip(matches, vids)
    ]
    n = max(len(p) for p in preds)
    label = np.zeros((len(preds), n))
    for i, (p, m) in enumerate(zip(preds, matches)):
        if len(p) == 0 or len(p) > len(m):
            raise EvaluationError(
                f'video {vids[i]!r}: {len(p)} predicted scores for '
                f'{len(m)} annotated clips')
        pos = (m > 0).astype(np.float64)
        label[i, :len(p)] = pos[_rank_desc(p)]
    ap = _trapezoid_ap(label)
    res = round(_seq_mean(ap), 5)
    return (res, ap) if per_video else res


def tvsum_map(preds: Sequence,
              annos: Sequence,
              vids: Sequence = None,
              k: int = 5,
              per_video: bool = False):
    """TVSum top-``k`` mAP (R²-Tuning ``TVSum.evaluate``).

    For each of the annotators, label = score > lower median (torch's
    ``median`` on float32, computed over the whole annotation column), keep
    the labels of the ``k`` best-ranked clips, trapezoid AP with the
    positives *within the top k*; mean over videos, then over annotators.

    Args:
        preds (Sequence): per video ``[T_i]`` predicted saliency.
        annos (Sequence): per video ``[n_i, A]`` annotator scores,
            ``n_i >= T_i`` (A = 20 in TVSum).
        vids (Sequence, optional): video ids for error messages.
        k (int): top-k cut. Defaults to 5.
        per_video (bool): also return the ``[V, A]`` APs.

    Returns:
        float | tuple: ``round(mAP, 5)`` as a fraction.
    """
    if len(preds) == 0:
        raise EvaluationError('tvsum: no videos to evaluate')
    vids = list(range(len(preds))) if vids is None else vids
    preds = [
        as_scores(p, f'video {v!r} saliency') for p, v in zip(preds, vids)
    ]
    for a, v in zip(annos, vids):
        try:
            finite = np.isfinite(np.asarray(a, dtype=np.float64)).all()
        except (ValueError, TypeError) as e:
            raise EvaluationError(f'video {v!r} anno: expected [clips, '
                                  f'annotators] numbers ({e})', GT) from None
        if not finite:
            raise EvaluationError(f'video {v!r} anno: NaN/inf score', GT)
    n_anno = {np.shape(a)[1] if np.ndim(a) == 2 else -1 for a in annos}
    if len(n_anno) != 1 or -1 in n_anno:
        raise EvaluationError(
            f'tvsum: every anno must be [clips, annotators] with the same '
            f'number of annotators, got {sorted(n_anno)}')
    import torch
    a_cnt = n_anno.pop()
    label = np.zeros((len(preds), a_cnt, k))
    for i, (p, a) in enumerate(zip(preds, annos)):
        if len(p) == 0 or len(p) > len(a):
            raise EvaluationError(
                f'video {vids[i]!r}: {len(p)} predicted scores for '
                f'{len(a)} annotated clips')
        t = torch.as_tensor(np.asarray(a, dtype=np.float32))
        pos = (t > t.median(dim=0).values).numpy().astype(np.float64)
        top = _rank_desc(p)[:k]
        label[i, :, :len(top)] = pos[top].T
    ap = _trapezoid_ap(label.reshape(-1, k)).reshape(len(preds), a_cnt)
    per_annotator = [_seq_mean(ap[:, j]) for j in range(a_cnt)]
    res = round(_seq_mean(np.array(per_annotator)), 5)
    return (res, ap) if per_video else res
