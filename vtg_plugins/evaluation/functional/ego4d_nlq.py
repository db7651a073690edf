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
``predicted_times``) or scores nonsense (NaN/inf times, ``null``) this
raises :class:`EvaluationError` naming the record; with
``on_invalid='miss'`` such a list counts as a miss (no recall, IoU 0). A
duplicated record, which the official code counts twice, raises unless
``allow_duplicates=True``. GT queries with text but no record, which the
official code simply leaves out of the denominator (so 1 of 4 queries
predicted right scores 100), raise unless ``allow_missing=True``; the
official ``Evaluated: N / M instances`` line goes to ``log`` either way.
Queries without text are neither predicted nor required (the official
baselines skip them), but count in ``M`` as in the official line.

Besides ``R@k_IoUθ`` and ``mIoU`` the result has ``mean_R1``, the mean of
R@1 at IoU 0.3 and 0.5 (the "mean R@1" the 2023 challenge ranks by), and
``mean_R1_R5``, the mean of R@1 and R@5 at IoU 0.3 and 0.5.
"""
from collections import OrderedDict
from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from ._utils import (GT, PRED, EvaluationError, Log, as_windows,
                     check_on_invalid, type_name)
from .iou import ego4d_iou

THRESHOLDS = (0.3, 0.5)
TOPK = (1, 3, 5)


def _parse_official(ground_truth: dict):
    """``(gt_dict, queries with text [(clip, ann, idx)], #queries)``."""
    gt, with_text, n_queries, where = {}, [], 0, 'videos'
    try:
        for v, video in enumerate(ground_truth['videos']):
            for c, clip in enumerate(video['clips']):
                for a, ann in enumerate(clip['annotations']):
                    where = f'videos[{v}].clips[{c}].annotations[{a}]'
                    key = (clip['clip_uid'], ann['annotation_uid'])
                    windows = []
                    for i, q in enumerate(ann['language_queries']):
                        where = (f'videos[{v}].clips[{c}].annotations[{a}]'
                                 f'.language_queries[{i}]')
                        windows.append([q['clip_start_sec'],
                                        q['clip_end_sec']])
                        if q.get('query'):
                            with_text.append(key + (i, ))
                    gt[key] = windows
                    n_queries += len(windows)
    except (KeyError, TypeError, AttributeError) as e:
        what = f'missing {e}' if isinstance(e, KeyError) else str(e)
        raise EvaluationError(f'Ego4D NLQ GT {where}: {what}', GT) from None
    return gt, with_text, n_queries


def _parse_gt(ground_truth: Any):
    """The official json or a ``{(clip_uid, annotation_uid): windows}``
    mapping as ``(gt_dict, expected query triples, #queries)``."""
    if isinstance(ground_truth, Mapping) and 'videos' in ground_truth:
        return _parse_official(ground_truth)
    if not isinstance(ground_truth, Mapping) or not all(
            isinstance(k, tuple) and len(k) == 2 for k in ground_truth):
        raise EvaluationError(
            f'expected the official Ego4D NLQ annotation (nlq_val.json, a '
            f'json object with "videos"), got a {type_name(ground_truth)}'
            + ('' if not isinstance(ground_truth, Mapping) else
               f' with keys {sorted(map(str, ground_truth))[:5]}'), GT)
    expected = [
        k + (i, ) for k, w in ground_truth.items()
        for i in (w if isinstance(w, Mapping) else range(len(w)))
    ]
    return dict(ground_truth), expected, len(expected)


def nlq_gt_windows(ground_truth: dict) -> Dict[Tuple, list]:
    """``{(clip_uid, annotation_uid): [[start, end] per language query]}``
    from an official ``nlq_{train,val}.json`` dict (queries without text are
    kept, so ``query_idx`` indexes this list as in the official code)."""
    return _parse_gt(ground_truth)[0]


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


def _gt_window(r: dict, gt_dict: Mapping) -> list:
    """The GT ``[start, end]`` of a submission record."""
    key = (r.get('clip_uid'), r.get('annotation_uid'))
    qidx = r.get('query_idx')
    if 'clip_uid' not in r or 'annotation_uid' not in r:
        raise EvaluationError(
            f'{_record_name(r)}: needs clip_uid and annotation_uid', PRED)
    if not all(isinstance(x, (str, int)) for x in key):
        raise EvaluationError(
            f'{_record_name(r)}: clip_uid and annotation_uid must be '
            f'strings', PRED)
    if key not in gt_dict:
        raise EvaluationError(
            f'{_record_name(r)}: instance not present in the GT', PRED)
    if isinstance(qidx, bool) or not isinstance(qidx, int):
        raise EvaluationError(
            f'{_record_name(r)}: query_idx must be an integer, got '
            f'{type_name(qidx)}', PRED)
    try:
        if qidx < 0:
            raise KeyError(qidx)
        window = gt_dict[key][qidx]
    except (KeyError, IndexError, TypeError):
        raise EvaluationError(
            f'{_record_name(r)}: no such query in the GT annotation '
            f'(it has {len(gt_dict[key])})', PRED) from None
    try:
        arr = np.asarray(window, dtype=np.float64)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.shape != (2, ) or not np.isfinite(arr).all():
        raise EvaluationError(
            f'{_record_name(r)}: the GT window (clip_start_sec, '
            f'clip_end_sec) must be two finite numbers, got {window!r}', GT)
    return window


def _check_coverage(seen: set, expected: Sequence, allow_missing: bool):
    missing = [k for k in expected if k not in seen]
    if missing and not allow_missing:
        names = [f'{c}/{a}/{i}' for c, a, i in missing[:10]]
        raise EvaluationError(
            f'{len(missing)} of {len(expected)} GT queries have no '
            f'prediction record (clip_uid/annotation_uid/query_idx: {names}'
            f'{", ..." if len(missing) > 10 else ""}); the official '
            f'evaluator divides by the number of records, so they would '
            f'not count: allow_missing (tools/evaluate.py --allow-missing) '
            f'scores the submitted records only', PRED)


def ego4d_nlq_metrics(predictions: Sequence[dict],
                      ground_truth: Mapping,
                      thresholds: Sequence[float] = THRESHOLDS,
                      topk: Sequence[int] = TOPK,
                      on_invalid: str = 'raise',
                      allow_duplicates: bool = False,
                      allow_missing: bool = False,
                      log: Log = None) -> 'OrderedDict':
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
        allow_missing (bool): score a submission that leaves GT queries
            out, dividing by the number of records as the official
            evaluator does.
        log (callable, optional): receives ``Evaluated: N / M instances``.

    Returns:
        OrderedDict: ``R@{k}_IoU{θ}`` for k in ``topk`` for θ in
        ``thresholds``, ``mIoU``, then ``mean_R1`` and ``mean_R1_R5`` (when
        those R@k are computed), all ×100, unrounded.
    """
    check_on_invalid(on_invalid)
    if len(predictions) == 0:
        raise EvaluationError('ego4d_nlq: the submission has no results',
                              PRED)
    gt_dict, expected, n_queries = _parse_gt(ground_truth)
    windows, gts, seen = [], [], set()
    for i, r in enumerate(predictions):
        if not isinstance(r, dict):
            raise EvaluationError(
                f'results[{i}]: expected a json object, got {type_name(r)}',
                PRED)
        gts.append(_gt_window(r, gt_dict))
        triple = (r['clip_uid'], r['annotation_uid'], r['query_idx'])
        if triple in seen and not allow_duplicates:
            raise EvaluationError(f'{_record_name(r)}: duplicated record',
                                  PRED)
        seen.add(triple)
        try:
            if 'predicted_times' not in r:
                raise EvaluationError(
                    f'{_record_name(r)}: no predicted_times', PRED)
            arr = as_windows(r['predicted_times'], 2,
                             f'{_record_name(r)} predicted_times')
            if arr is None:
                raise EvaluationError(
                    f'{_record_name(r)}: empty predicted_times', PRED)
        except EvaluationError:
            if on_invalid == 'raise':
                raise
            arr = None
        windows.append(arr)
    if log:
        log(f'Evaluated: {len(predictions)} / {n_queries} instances')
    _check_coverage(seen, expected, allow_missing)
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
    for name, ks in (('mean_R1', (1, )), ('mean_R1_R5', (1, 5))):
        keys = [f'R@{k}_IoU{t}' for k in ks for t in (0.3, 0.5)]
        if all(k in out for k in keys):
            out[name] = float(np.mean([out[k] for k in keys]))
    return out
