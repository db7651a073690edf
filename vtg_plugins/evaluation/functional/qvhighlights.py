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
an empty, ``null`` or ragged prediction list, a NaN/inf window coordinate
or score, a GT query without windows, a GT duration that is not a finite
number > 0, duplicated or mismatched qids (ids that differ only in type
named as such), and records of which only some have
``pred_relevant_windows`` / ``pred_saliency_scores`` raise
:class:`EvaluationError` naming the query; with ``on_invalid='miss'`` a
query with an unusable prediction list scores IoU 0 and AP 0 instead (the
official mAP would drop an empty one). GT queries without a prediction
raise, as moment_detr's default ``match_number=True``; ``allow_missing``
scores the predicted ones only, as its ``match_number=False`` (a
prediction for a qid absent from the GT still raises). An empty length
bucket under the official protocol (where moment_detr crashes) gives NaN
for that bucket.
"""
from collections import OrderedDict
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ._utils import (GT, PRED, EvaluationError, Log, as_scores, as_windows,
                     check_duration, check_on_invalid, check_same_ids,
                     check_unique, fmt2, pad_stack, type_name)
from .highlight import qvhighlights_hl
from .moment_retrieval import (MAP_THRESHOLDS, R2_RECALL_THRESHOLDS,
                               detection_ap, r1_iou, r5_iou)



class Protocol(NamedTuple):
    """What an evaluator variant computes (no behaviour is keyed by its
    name: each difference is a field)."""
    buckets: Tuple[Tuple[str, float, float], ...]  # (name, lo, hi] seconds
    r1_thresholds: Tuple[float, ...]  # IoU thresholds of MR-R1
    r5_and_miou: bool  # MR-R5 and MR-mIoU per bucket, in the brief too
    empty_bucket_is_full: bool  # an empty bucket scores the full set (or NaN)
    needs_gt_saliency: bool  # HL metrics only when the GT has saliency
    very_good_last: bool  # HL keys: the VeryGood ones after the others


#: evaluator variants by name: moment_detr's CodaLab evaluator and
#: R²-Tuning's ``vtg_eval``
PROTOCOLS = {
    'official':
    Protocol((('short', 0, 10), ('middle', 10, 30), ('long', 30, 150),
              ('full', 0, 150)), MAP_THRESHOLDS, False, False, False, False),
    'r2tuning':
    Protocol((('short', 0, 10), ('middle', 10, 30), ('long', 30, float('inf')),
              ('full', 0, float('inf'))), R2_RECALL_THRESHOLDS, True, True,
             True, True),
}
MAX_PRED_WINDOWS = 10


def _pack_predictions(submission: Sequence[dict], on_invalid: str):
    windows = []
    for d in submission:
        what = f'qid {d["qid"]!r} pred_relevant_windows'
        if 'pred_relevant_windows' not in d:
            raise EvaluationError(f'{what}: missing', PRED)
        try:
            arr = as_windows(d['pred_relevant_windows'], 3, what)
            if arr is None:
                raise EvaluationError(f'{what}: empty list', PRED)
        except EvaluationError:
            if on_invalid == 'raise':
                raise
            arr = None
        windows.append(None if arr is None else arr[:MAX_PRED_WINDOWS])
    return pad_stack(windows, 3)


def _pack_gt(ground_truth: Sequence[dict]):
    windows = []
    for d in ground_truth:
        what = f'qid {d["qid"]!r} relevant_windows'
        if 'relevant_windows' not in d:
            raise EvaluationError(f'{what}: missing', GT)
        arr = as_windows(d['relevant_windows'], 2, what, GT)
        if arr is None:
            raise EvaluationError(f'{what}: no GT window (the official '
                                  f'evaluator crashes on this query)', GT)
        windows.append(arr)
    return pad_stack(windows, 2)


def _protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {tuple(PROTOCOLS)}, got '
                         f'{name!r}')
    return PROTOCOLS[name]


def _mr_bucket(pred, num_pred, gt, gt_valid, protocol: Protocol):
    """Metrics of one length bucket (rows = queries kept in it)."""
    iou1 = r1_iou(pred, num_pred, gt, gt_valid)
    ap = detection_ap(pred, num_pred, gt, gt_valid, MAP_THRESHOLDS)
    ap_thds = ap.mean(0)
    mr_map = {str(t): v for t, v in zip(MAP_THRESHOLDS, ap_thds)}
    mr_map['average'] = np.mean(ap_thds)
    res = {'MR-mAP': {k: fmt2(100 * v) for k, v in mr_map.items()}}
    res['MR-R1'] = {
        str(t): fmt2(np.mean(iou1 >= t) * 100)
        for t in protocol.r1_thresholds
    }
    if protocol.r5_and_miou:
        iou5 = r5_iou(pred, num_pred, gt, gt_valid)
        res['MR-mIoU'] = fmt2(np.mean(iou1) * 100)
        res['MR-R5'] = {
            str(t): fmt2(np.mean(iou5 >= t) * 100)
            for t in R2_RECALL_THRESHOLDS
        }
    return res


def _nan_bucket(protocol: Protocol):
    nan = float('nan')
    res = {
        'MR-mAP': {
            str(t): nan
            for t in MAP_THRESHOLDS + ('average', )
        },
        'MR-R1': {str(t): nan
                  for t in protocol.r1_thresholds}
    }
    if protocol.r5_and_miou:
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
    spec = _protocol(protocol)
    check_on_invalid(on_invalid)
    gt_by_qid = {d['qid']: d for d in ground_truth}
    unknown = [d['qid'] for d in submission if d['qid'] not in gt_by_qid]
    if unknown:
        raise EvaluationError(f'{len(unknown)} predicted qid(s) are not in '
                              f'the ground truth, e.g. {unknown[:5]}', PRED)
    gt_sorted = [gt_by_qid[d['qid']] for d in submission]
    pred, num_pred = _pack_predictions(submission, on_invalid)
    gt, num_gt = _pack_gt(gt_sorted)
    gt_len = gt[..., 1] - gt[..., 0]
    padded = np.arange(gt.shape[1])[None] < num_gt[:, None]
    out = {}
    for name, lo, hi in spec.buckets:
        if name == 'full':
            valid, keep = padded, np.ones(len(gt), bool)
        else:
            valid = padded & (gt_len > lo) & (gt_len <= hi)
            keep = valid.any(axis=1)
        if not keep.any():
            if not spec.empty_bucket_is_full:
                out[name] = _nan_bucket(spec)
                continue
            valid, keep = padded, np.ones(len(gt), bool)
        out[name] = _mr_bucket(pred[keep], num_pred[keep], gt[keep],
                               valid[keep], spec)
    return out


def _gt_saliency(d: dict, clip_len: float = 2.0) -> np.ndarray:
    """moment_detr ``mk_gt_scores``: ``[int(duration / 2), 3]`` scores."""
    for key in ('duration', 'relevant_clip_ids', 'saliency_scores'):
        if key not in d:
            raise EvaluationError(f'qid {d["qid"]!r}: GT has no {key!r}', GT)
    n = int(check_duration(d) / clip_len)
    full = np.zeros((n, 3))
    try:
        ids = np.asarray(d['relevant_clip_ids'], dtype=np.float64)
        scores = np.asarray(d['saliency_scores'], dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise EvaluationError(
            f'qid {d["qid"]!r}: relevant_clip_ids / saliency_scores must be '
            f'lists of numbers ({e})', GT) from None
    if not (np.isfinite(ids).all() and np.isfinite(scores).all()
            and (ids == np.round(ids)).all()):
        raise EvaluationError(
            f'qid {d["qid"]!r}: relevant_clip_ids must be integers and '
            f'saliency_scores finite', GT)
    ids = ids.astype(np.int64)
    if len(ids) != len(scores) or (len(ids) and
                                   (scores.ndim != 2 or scores.shape[1] != 3
                                    or ids.max() >= n or ids.min() < -n)):
        raise EvaluationError(
            f'qid {d["qid"]!r}: relevant_clip_ids / saliency_scores do not '
            f'fit {n} clips of the {d["duration"]} s video', GT)
    full[ids] = scores
    return full


def _check_records(records: Sequence, what: str, source: str) -> None:
    for i, d in enumerate(records):
        if not isinstance(d, dict) or 'qid' not in d:
            raise EvaluationError(f'{what} record #{i} has no "qid"', source)
        if not isinstance(d['qid'], (int, float, str)):
            raise EvaluationError(
                f'{what} record #{i}: qid must be a number or a string, got '
                f'{type_name(d["qid"])}', source)
        check_duration(d, source)


def _all_or_none(records: Sequence[dict], key: str, what: str,
                 source: str) -> bool:
    """Whether every record has ``key``; raise if only some have it."""
    lacking = [d['qid'] for d in records if key not in d]
    if 0 < len(lacking) < len(records):
        raise EvaluationError(
            f'{what}: {len(lacking)} of {len(records)} records have no '
            f'{key!r} while the others have it, e.g. qid(s) {lacking[:5]}',
            source)
    return not lacking


def _with_highlights(submission, ground_truth, protocol: Protocol,
                     with_saliency, log: Log) -> bool:
    """Whether to compute the HL metrics (see :func:`eval_qvhighlights`)."""
    if with_saliency is False:
        return False
    if not _all_or_none(submission, 'pred_saliency_scores', 'submission',
                        PRED):
        if with_saliency:
            raise EvaluationError('no record has pred_saliency_scores',
                                  PRED)
        if log:
            log('no record of the submission has pred_saliency_scores: '
                'moment retrieval metrics only (no HL-* metrics)')
        return False
    if protocol.needs_gt_saliency and not _all_or_none(
            ground_truth, 'saliency_scores', 'ground truth', GT):
        if with_saliency:
            raise EvaluationError('no GT record has saliency_scores', GT)
        if log:  # as R²-Tuning's vtg_eval: no GT saliency, no HL metrics
            log('no GT record has saliency_scores: moment retrieval '
                'metrics only (no HL-* metrics)')
        return False
    return True


def _highlights(submission, gt_by_qid,
                protocol: Protocol) -> Dict[str, float]:
    qids = [d['qid'] for d in submission]
    gts = [_gt_saliency(gt_by_qid[q]) for q in qids]
    preds = [
        as_scores(d['pred_saliency_scores'],
                  f'qid {d["qid"]!r} pred_saliency_scores')
        for d in submission
    ]
    hl = qvhighlights_hl(preds, gts, qids)
    if protocol.very_good_last:
        hl = {k: v for k, v in hl.items() if 'VeryGood' not in k} | \
            {k: v for k, v in hl.items() if 'VeryGood' in k}
    return hl


def eval_qvhighlights(submission: Sequence[dict],
                      ground_truth: Sequence[dict],
                      protocol: str = 'official',
                      on_invalid: str = 'raise',
                      with_saliency: Optional[bool] = None,
                      allow_missing: bool = False,
                      log: Log = None) -> 'OrderedDict[str, float]':
    """The official ``brief`` metrics of a QVHighlights-style submission.

    Moment metrics are computed when the submission records have
    ``pred_relevant_windows``, highlight metrics when they have
    ``pred_saliency_scores`` (and, as in R²-Tuning, the GT has
    ``saliency_scores``); records of which only some have a key raise.

    Args:
        submission (Sequence[dict]): moment_detr prediction records.
        ground_truth (Sequence[dict]): moment_detr GT records.
        protocol (str): ``'official'`` or ``'r2tuning'``.
        on_invalid (str): ``'raise'`` or ``'miss'`` (see module doc).
        with_saliency (bool, optional): ``None`` computes the HL metrics
            when the inputs have saliency (and logs when they have none),
            ``True`` requires them, ``False`` ignores saliency.
        allow_missing (bool): score only the predicted queries when some
            GT queries have no prediction (moment_detr's
            ``match_number=False``); raise otherwise.
        log (callable, optional): receives one line per note: ``Evaluated:
            N / M queries`` and what is not computed, if anything.

    Returns:
        OrderedDict: e.g. ``MR-full-R1@0.5``, ``MR-full-mAP``,
        ``HL-min-VeryGood-mAP`` (×100, two decimals; NaN for an empty
        bucket under the official protocol).
    """
    spec = _protocol(protocol)
    if len(submission) == 0:
        raise EvaluationError('the submission is empty', PRED)
    _check_records(submission, 'submission', PRED)
    _check_records(ground_truth, 'ground truth', GT)
    pred_qids = [d['qid'] for d in submission]
    check_unique(pred_qids, 'submission', PRED)
    check_unique([d['qid'] for d in ground_truth], 'ground truth', GT)
    gt_by_qid = {d['qid']: d for d in ground_truth}
    if log:
        log(f'Evaluated: {sum(q in gt_by_qid for q in pred_qids)} / '
            f'{len(ground_truth)} queries')
    check_same_ids(pred_qids, gt_by_qid, 'qvhighlights', allow_missing)
    with_mr = _all_or_none(submission, 'pred_relevant_windows',
                           'submission', PRED)
    with_hl = _with_highlights(submission, ground_truth, spec, with_saliency,
                               log)
    if not (with_mr or with_hl):
        raise EvaluationError(
            'nothing to evaluate: the records have neither '
            'pred_relevant_windows nor pred_saliency_scores', PRED)
    brief = OrderedDict()
    if with_mr:
        mr = eval_moment_retrieval(submission, ground_truth, protocol,
                                   on_invalid)
        brief.update(sorted(_mr_brief(mr, spec).items()))
    elif log:
        log('no record of the submission has pred_relevant_windows: '
            'highlight metrics only (no MR-* metrics)')
    if with_hl:
        brief.update(_highlights(submission, gt_by_qid, spec))
    return brief


def _mr_brief(mr: Dict[str, dict], protocol: Protocol) -> Dict[str, float]:
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
    if protocol.r5_and_miou:
        for name, _, _ in protocol.buckets:
            brief[f'MR-{name}-mIoU'] = mr[name]['MR-mIoU']
        for t in ('0.3', '0.5', '0.7'):
            brief[f'MR-full-R1@{t}'] = full['MR-R1'][t]
            brief[f'MR-full-R5@{t}'] = full['MR-R5'][t]
    return brief


def official_gt_record(d: dict) -> dict:
    """A GT record in moment_detr's format from either that format or the
    normalized annotation (``windows``; ``saliency`` = ``[[a1, a2, a3]]``
    per clip, which becomes ``relevant_clip_ids`` = every clip of the
    ``int(duration / 2)`` grid; ``source_qid``, the id as the official file
    typed it, becomes the ``qid``, as in the submissions written from it)."""
    out = dict(d)
    if 'source_qid' in out:
        out['qid'] = out.pop('source_qid')
    if 'relevant_windows' not in out and 'windows' in out:
        out['relevant_windows'] = out['windows']
    sal = out.get('saliency')
    if 'saliency_scores' not in out and isinstance(sal, list):
        if check_duration(out) is None:
            raise EvaluationError(
                f'qid {out.get("qid")!r}: GT has saliency but no duration', GT)
        n = min(len(sal), int(out['duration'] / 2))
        out['relevant_clip_ids'] = list(range(n))
        out['saliency_scores'] = sal[:n]
    return out
