"""Ego4D NLQ recall: R@k at IoU θ (strict ``>``), mIoU of the top-1 window.

Vectorized re-implementation of EGO4D/episodic-memory
``NLQ/VSLNet/utils/evaluate_ego4d_nlq.py: evaluate_nlq_performance``:

* windows are taken in list order (never re-sorted, deduplicated or
  truncated); elements after ``[start, end]`` (a score) are ignored;
* IoU over the clamped hull (:func:`~.iou.ego4d_iou`); NaN (zero hull) is
  never a hit, and a NaN top-1 IoU makes ``mIoU`` NaN, as in the official
  ``np.mean``;
* the denominator is the number of submission records; the GT of a record
  is ``language_queries[query_idx]`` of the annotation
  ``(clip_uid, annotation_uid)``.

Where the official evaluator crashes (unknown instance, empty or ragged
``predicted_times``) this raises :class:`EvaluationError` naming the record;
with ``on_invalid='miss'`` an empty or ragged list counts as a miss (no
recall, IoU 0). A duplicated record, which the official code counts twice,
raises unless ``allow_duplicates=True``.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from ._utils import EvaluationError, as_windows, check_on_invalid
from .iou import ego4d_iou

THRESHOLDS = (0.3, 0.5)
TOPK = (1, 3, 5)


def nlq_gt_windows(ground_truth: dict) -> Dict[Tuple, list]:
    """``{(clip_uid, annotation_uid): [[start, end] per language query]}``
    from an official ``nlq_{train,val}.json`` dict (queries without text are
    kept, so ``query_idx`` indexes this list as in the official code)."""
    gt = {}
    for video in ground_truth['videos']:
        for clip in video['clips']:
            for ann in clip['annotations']:
                gt[(clip['clip_uid'], ann['annotation_uid'])] = [[
                    q['clip_start_sec'], q['clip_end_sec']
                ] for q in ann['language_queries']]
    return gt


def _record_name(r: dict) -> str:
    return (f'clip_uid={r.get("clip_uid")!r} '
            f'annotation_uid={r.get("annotation_uid")!r} '
            f'query_idx={r.get("query_idx")!r}')


def nlq_recall(pred: np.ndarray,
               num_pred: np.ndarray,
               gt: np.ndarray,
               thresholds: Sequence[float] = THRESHOLDS,
               topk: Sequence[int] = TOPK):
    """R@k at IoU θ and the top-1 IoU on a padded batch.

    Args:
        pred (np.ndarray): ``[N, K, 2]`` windows in list order (NaN pad).
        num_pred (np.ndarray): ``[N]`` valid windows (0 = a miss).
        gt (np.ndarray): ``[N, 2]``.
        thresholds (Sequence[float]): IoU thresholds (strict ``>``).
        topk (Sequence[int]): the k of R@k.

    Returns:
        tuple: ``recall [len(thresholds), len(topk)]`` fractions and
        ``top1_iou [N]`` (0 for a miss, NaN for a zero hull).
    """
    iou = ego4d_iou(pred, gt[:, None, :])  # [N, K]
    iou = np.where(
        np.arange(pred.shape[1])[None] < num_pred[:, None], iou, np.nan)
    recall = np.zeros((len(thresholds), len(topk)))
    for i, t in enumerate(thresholds):
        hit = iou > t
        for j, k in enumerate(topk):
            recall[i, j] = np.mean(hit[:, :k].any(axis=1))
    top1 = np.where(num_pred > 0, iou[:, 0], 0.0)
    return recall, top1


def ego4d_nlq_metrics(predictions: Sequence[dict],
                      ground_truth: Mapping,
                      thresholds: Sequence[float] = THRESHOLDS,
                      topk: Sequence[int] = TOPK,
                      on_invalid: str = 'raise',
                      allow_duplicates: bool = False) -> 'OrderedDict':
    """Official Ego4D NLQ metrics of a submission's ``results`` list.

    Args:
        predictions (Sequence[dict]): records with ``clip_uid``,
            ``annotation_uid``, ``query_idx`` and ``predicted_times``.
        ground_truth (Mapping): the official ``nlq_val.json`` content, or
            ``{(clip_uid, annotation_uid): windows}`` where ``windows[
            query_idx]`` is ``[start, end]`` (a list or a dict).
        on_invalid (str): ``'raise'`` or ``'miss'`` (see module doc).
        allow_duplicates (bool): count duplicated records twice, as the
            official evaluator does.

    Returns:
        OrderedDict: ``R@{k}_IoU{θ}`` for k in ``topk`` for θ in
        ``thresholds``, ``mIoU`` and ``mean_R`` (the mean of the R@k
        values), all ×100, unrounded.
    """
    check_on_invalid(on_invalid)
    if len(predictions) == 0:
        raise EvaluationError('ego4d_nlq: the submission has no results')
    gt_dict = nlq_gt_windows(ground_truth) if 'videos' in ground_truth \
        else ground_truth
    windows, gts, seen = [], [], set()
    for r in predictions:
        key = (r.get('clip_uid'), r.get('annotation_uid'))
        qidx = r.get('query_idx')
        if key not in gt_dict:
            raise EvaluationError(
                f'{_record_name(r)}: instance not present in the GT')
        try:
            if isinstance(qidx, bool) or qidx < 0:
                raise KeyError(qidx)
            gt_window = gt_dict[key][qidx]
        except (KeyError, IndexError, TypeError):
            raise EvaluationError(
                f'{_record_name(r)}: no such query in the GT annotation '
                f'(it has {len(gt_dict[key])})') from None
        if not allow_duplicates:
            if key + (qidx, ) in seen:
                raise EvaluationError(f'{_record_name(r)}: duplicated record')
            seen.add(key + (qidx, ))
        gts.append(gt_window)
        try:
            arr = as_windows(
                r.get('predicted_times'), 2,
                f'{_record_name(r)} predicted_times')
            if arr is None:
                raise EvaluationError(
                    f'{_record_name(r)}: empty predicted_times')
        except EvaluationError:
            if on_invalid == 'raise':
                raise
            arr = None
        windows.append(arr)
    counts = np.array([0 if a is None else len(a) for a in windows])
    pred = np.full((len(windows), max(int(counts.max()), 1), 2), np.nan)
    for i, a in enumerate(windows):
        if a is not None:
            pred[i, :len(a)] = a[:, :2]
    recall, top1 = nlq_recall(pred, counts, np.asarray(gts, dtype=float),
                              thresholds, topk)
    out = OrderedDict()
    for j, k in enumerate(topk):
        for i, t in enumerate(thresholds):
            out[f'R@{k}_IoU{t}'] = 100 * recall[i, j]
    out['mIoU'] = 100 * np.mean(top1)
    out['mean_R'] = 100 * float(np.mean(recall))
    return out
