"""QVHighlights-style evaluation of whole submissions (moments + saliency).

``protocol='official'`` reproduces jayleicn/moment_detr
``standalone_eval/eval.py: eval_submission`` (the CodaLab evaluator);
``protocol='r2tuning'`` reproduces yeliudev/R2-Tuning
``datasets/eval/evaluation.py: vtg_eval`` (adds R1@0.3, R5, mIoU; long
bucket (30, inf]; an empty bucket falls back to the full set). Both return
the official ``brief`` dict with the same keys in the same order.

Inputs are the official jsonl records::

    submission: {"qid", "pred_relevant_windows": [[st, ed, score], ...],
                 "pred_saliency_scores": [...]}          # both optional
    ground_truth: {"qid", "duration", "relevant_windows": [[st, ed], ...],
                   "relevant_clip_ids": [...], "saliency_scores": [[a,b,c]]}

Deviations, where the official code crashes or silently mis-counts:
an empty prediction list, ragged windows, a GT query without windows,
duplicated or mismatched qids raise :class:`EvaluationError` naming the
query; with ``on_invalid='miss'`` a query with an empty or ragged prediction
list scores IoU 0 and AP 0 instead (the official mAP would drop it). An empty
length bucket under the official protocol (where moment_detr crashes) gives
NaN for that bucket.
"""
from collections import OrderedDict
from typing import Dict, Sequence

import numpy as np

from ._utils import (EvaluationError, as_windows, check_on_invalid,
                     check_same_ids, check_unique, fmt2, pad_stack)
from .highlight import qvhighlights_hl
from .moment_retrieval import (MAP_THRESHOLDS, R2_RECALL_THRESHOLDS,
                               detection_ap, r1_iou, r5_iou)

PROTOCOLS = ('official', 'r2tuning')
_BUCKETS = {
    'official': (('short', 0, 10), ('middle', 10, 30), ('long', 30, 150),
                 ('full', 0, 150)),
    'r2tuning': (('short', 0, 10), ('middle', 10, 30),
                 ('long', 30, float('inf')), ('full', 0, float('inf'))),
}
MAX_PRED_WINDOWS = 10


def _pack_predictions(submission: Sequence[dict], on_invalid: str):
    windows = []
    for d in submission:
        what = f'qid {d["qid"]!r} pred_relevant_windows'
        if 'pred_relevant_windows' not in d:
            raise EvaluationError(f'{what}: missing')
        seq = d['pred_relevant_windows']
        try:
            arr = as_windows(seq[:MAX_PRED_WINDOWS], 3, what)
            if arr is None:
                raise EvaluationError(f'{what}: empty list')
            if np.isnan(arr[:, 2]).any():
                raise EvaluationError(f'{what}: NaN score')
        except EvaluationError:
            if on_invalid == 'raise':
                raise
            arr = None
        windows.append(arr)
    return pad_stack(windows, 3)


def _pack_gt(ground_truth: Sequence[dict]):
    windows = []
    for d in ground_truth:
        what = f'qid {d["qid"]!r} relevant_windows'
        arr = as_windows(d.get('relevant_windows', []), 2, what)
        if arr is None:
            raise EvaluationError(f'{what}: no GT window (the official '
                                  f'evaluator crashes on this query)')
        windows.append(arr)
    return pad_stack(windows, 2)


def _mr_bucket(pred, num_pred, gt, gt_valid, protocol):
    """Metrics of one length bucket (rows = queries kept in it)."""
    iou1 = r1_iou(pred, num_pred, gt, gt_valid)
    ap = detection_ap(pred, num_pred, gt, gt_valid, MAP_THRESHOLDS)
    ap_thds = ap.mean(0)
    mr_map = {str(t): v for t, v in zip(MAP_THRESHOLDS, ap_thds)}
    mr_map['average'] = np.mean(ap_thds)
    res = {'MR-mAP': {k: fmt2(100 * v) for k, v in mr_map.items()}}
    r_thds = MAP_THRESHOLDS if protocol == 'official' \
        else R2_RECALL_THRESHOLDS
    res['MR-R1'] = {str(t): fmt2(np.mean(iou1 >= t) * 100) for t in r_thds}
    if protocol == 'r2tuning':
        iou5 = r5_iou(pred, num_pred, gt, gt_valid)
        res['MR-mIoU'] = fmt2(np.mean(iou1) * 100)
        res['MR-R5'] = {
            str(t): fmt2(np.mean(iou5 >= t) * 100)
            for t in R2_RECALL_THRESHOLDS
        }
    return res


def _nan_bucket(protocol):
    nan = float('nan')
    res = {
        'MR-mAP': {
            str(t): nan
            for t in MAP_THRESHOLDS + ('average', )
        },
        'MR-R1': {
            str(t): nan
            for t in MAP_THRESHOLDS
        }
    }
    if protocol == 'r2tuning':
        res['MR-mIoU'] = nan
        res['MR-R5'] = {str(t): nan for t in R2_RECALL_THRESHOLDS}
    return res


def eval_moment_retrieval(submission: Sequence[dict],
                          ground_truth: Sequence[dict],
                          protocol: str = 'official',
                          on_invalid: str = 'raise') -> Dict[str, dict]:
    """Moment retrieval metrics per length bucket.

    ``submission`` and ``ground_truth`` must hold the same qids; rows are
    matched by qid. Length buckets keep the GT windows with
    ``lo < end - start <= hi`` and drop queries left without one.

    Returns:
        dict: ``{bucket: {"MR-mAP": {θ: v, "average": v}, "MR-R1": {θ: v},
        ["MR-mIoU": v, "MR-R5": {θ: v}]}}`` (×100, two decimals).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}')
    check_on_invalid(on_invalid)
    gt_by_qid = {d['qid']: d for d in ground_truth}
    gt_sorted = [gt_by_qid[d['qid']] for d in submission]
    pred, num_pred = _pack_predictions(submission, on_invalid)
    gt, num_gt = _pack_gt(gt_sorted)
    gt_len = gt[..., 1] - gt[..., 0]
    padded = np.arange(gt.shape[1])[None] < num_gt[:, None]
    out = {}
    for name, lo, hi in _BUCKETS[protocol]:
        if name == 'full':
            valid, keep = padded, np.ones(len(gt), bool)
        else:
            valid = padded & (gt_len > lo) & (gt_len <= hi)
            keep = valid.any(axis=1)
        if not keep.any():
            if protocol == 'official':
                out[name] = _nan_bucket(protocol)
                continue
            valid, keep = padded, np.ones(len(gt), bool)
        out[name] = _mr_bucket(pred[keep], num_pred[keep], gt[keep],
                               valid[keep], protocol)
    return out


def _gt_saliency(d: dict, clip_len: float = 2.0) -> np.ndarray:
    """moment_detr ``mk_gt_scores``: ``[int(duration / 2), 3]`` scores."""
    for key in ('duration', 'relevant_clip_ids', 'saliency_scores'):
        if key not in d:
            raise EvaluationError(f'qid {d["qid"]!r}: GT has no {key!r}')
    n = int(d['duration'] / clip_len)
    full = np.zeros((n, 3))
    ids = np.asarray(d['relevant_clip_ids'], dtype=np.int64)
    scores = np.asarray(d['saliency_scores'], dtype=np.float64)
    if len(ids) != len(scores) or (len(ids) and
                                   (scores.ndim != 2 or scores.shape[1] != 3
                                    or ids.max() >= n or ids.min() < -n)):
        raise EvaluationError(
            f'qid {d["qid"]!r}: relevant_clip_ids / saliency_scores do not '
            f'fit {n} clips of the {d["duration"]} s video')
    full[ids] = scores
    return full


def eval_qvhighlights(submission: Sequence[dict],
                      ground_truth: Sequence[dict],
                      protocol: str = 'official',
                      on_invalid: str = 'raise') -> 'OrderedDict[str, float]':
    """The official ``brief`` metrics of a QVHighlights-style submission.

    Moment metrics are computed when the first submission record has
    ``pred_relevant_windows``; highlight metrics when it has
    ``pred_saliency_scores`` (and, as in R²-Tuning, the GT has
    ``saliency_scores``).

    Returns:
        OrderedDict: e.g. ``MR-full-R1@0.5``, ``MR-full-mAP``,
        ``HL-min-VeryGood-mAP`` (×100, two decimals; NaN for an empty
        bucket under the official protocol).
    """
    if len(submission) == 0:
        raise EvaluationError('the submission is empty')
    for what, recs in (('submission', submission), ('ground truth',
                                                    ground_truth)):
        for i, d in enumerate(recs):
            if not isinstance(d, dict) or 'qid' not in d:
                raise EvaluationError(f'{what} record #{i} has no "qid"')
    pred_qids = [d['qid'] for d in submission]
    check_unique(pred_qids, 'submission')
    check_unique([d['qid'] for d in ground_truth], 'ground truth')
    check_same_ids(pred_qids, (d['qid'] for d in ground_truth), 'qvhighlights')
    brief = OrderedDict()
    if 'pred_relevant_windows' in submission[0]:
        mr = eval_moment_retrieval(submission, ground_truth, protocol,
                                   on_invalid)
        brief.update(sorted(_mr_brief(mr, protocol).items()))
    if 'pred_saliency_scores' in submission[0]:
        gt_by_qid = {d['qid']: d for d in ground_truth}
        if protocol == 'official' or 'saliency_scores' in ground_truth[0]:
            gts = [_gt_saliency(gt_by_qid[q]) for q in pred_qids]
            preds = []
            for d in submission:
                if 'pred_saliency_scores' not in d:
                    raise EvaluationError(
                        f'qid {d["qid"]!r}: pred_saliency_scores missing')
                preds.append(np.asarray(d['pred_saliency_scores'], float))
            hl = qvhighlights_hl(preds, gts, pred_qids)
            if protocol == 'r2tuning':  # vtg_eval moves VeryGood last
                hl = {k: v for k, v in hl.items() if 'VeryGood' not in k} | \
                    {k: v for k, v in hl.items() if 'VeryGood' in k}
            brief.update(hl)
    return brief


def _mr_brief(mr: Dict[str, dict], protocol: str) -> Dict[str, float]:
    full = mr['full']
    brief = {
        'MR-full-mAP': full['MR-mAP']['average'],
        'MR-full-mAP@0.5': full['MR-mAP']['0.5'],
        'MR-full-mAP@0.75': full['MR-mAP']['0.75'],
        'MR-short-mAP': mr['short']['MR-mAP']['average'],
        'MR-middle-mAP': mr['middle']['MR-mAP']['average'],
        'MR-long-mAP': mr['long']['MR-mAP']['average'],
        'MR-full-R1@0.5': full['MR-R1']['0.5'],
        'MR-full-R1@0.7': full['MR-R1']['0.7'],
    }
    if protocol == 'r2tuning':
        for name in ('short', 'middle', 'long', 'full'):
            brief[f'MR-{name}-mIoU'] = mr[name]['MR-mIoU']
        for t in ('0.3', '0.5', '0.7'):
            brief[f'MR-full-R1@{t}'] = full['MR-R1'][t]
            brief[f'MR-full-R5@{t}'] = full['MR-R5'][t]
    return brief


def official_gt_record(d: dict) -> dict:
    """A GT record in moment_detr's format from either that format or the
    normalized annotation (``windows``; ``saliency`` = ``[[a1, a2, a3]]``
    per clip, which becomes ``relevant_clip_ids`` = every clip of the
    ``int(duration / 2)`` grid)."""
    out = dict(d)
    if 'relevant_windows' not in out and 'windows' in out:
        out['relevant_windows'] = out['windows']
    sal = out.get('saliency')
    if 'saliency_scores' not in out and isinstance(sal, list):
        n = min(len(sal), int(out['duration'] / 2))
        out['relevant_clip_ids'] = list(range(n))
        out['saliency_scores'] = sal[:n]
    return out
