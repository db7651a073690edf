"""Moment retrieval (moment_detr + R²-Tuning vtg_eval): hand-computed edge
cases from refs/metrics.md and the loop oracle on random inputs."""
import math

import numpy as np
import pytest

from vtg_plugins.evaluation.functional import (EvaluationError,
                                               eval_qvhighlights, r1_iou)
from vtg_plugins.evaluation.functional.moment_retrieval import best_gt_index
from . import oracles as O


def _run(preds, gts, protocol='official', durations=None, **kw):
    sub = [dict(qid=i, pred_relevant_windows=p) for i, p in enumerate(preds)]
    gt = [
        dict(
            qid=i,
            duration=(durations or [150] * len(gts))[i],
            relevant_windows=g) for i, g in enumerate(gts)
    ]
    return eval_qvhighlights(sub, gt, protocol, **kw)


def test_r1_takes_first_window_in_list_order():
    # the second window has the higher score and would hit; R1 ignores it
    res = _run([[[40, 50, 0.1], [0, 10, 0.9]]], [[[0, 10]]])
    assert res['MR-full-R1@0.5'] == 0.0
    res = _run([[[0, 10, 0.1], [40, 50, 0.9]]], [[[0, 10]]])
    assert res['MR-full-R1@0.5'] == 100.0


def test_r1_threshold_inclusive_and_exact_0_7():
    # IoU = 7 / 10 = 0.7 exactly: a hit at 0.7 (>=), not at 0.75
    res = _run([[[0, 7, 1.0]]], [[[0, 10]]])
    assert res['MR-full-R1@0.7'] == 100.0
    assert res['MR-full-R1@0.5'] == 100.0


def test_best_gt_first_on_ties_and_nan_wins():
    gt = np.array([[[0, 4], [4, 8]], [[0, 10], [5, 5]]], dtype=float)
    pred0 = np.array([[2, 6], [5, 5]], dtype=float)
    # query 0: both IoU 2/6 -> the first; query 1: IoUs [0, 0/0=NaN] -> NaN
    assert best_gt_index(pred0, gt, np.ones((2, 2), bool)).tolist() == [0, 1]
    iou = r1_iou(
        np.array([[[2, 6, 1]], [[5, 5, 1]]], float), np.array([1, 1]), gt,
        np.ones((2, 2), bool))
    # hull IoU with the chosen GT: 2/6; zero hull -> 0
    assert iou == pytest.approx([1 / 3, 0.0])


def test_windows_past_duration_are_not_clipped():
    # clipped to the 20 s duration the prediction would be a perfect match
    res = _run([[[10, 30, 1.0]]], [[[10, 20]]], durations=[20])
    assert res['MR-full-R1@0.5'] == 100.0
    assert res['MR-full-R1@0.7'] == 0.0
    assert res['MR-full-mAP@0.5'] == 100.0
    assert res['MR-full-mAP@0.75'] == 0.0


def test_map_truncates_to_10_before_sorting():
    preds = [[50 + i, 60 + i, 0.5] for i in range(10)] + [[0, 10, 0.99]]
    assert _run([preds], [[[0, 10]]])['MR-full-mAP'] == 0.0
    assert _run([preds[-1:] + preds[:9]], [[[0, 10]]])['MR-full-mAP'] == 100.


def test_map_equal_scores_keep_list_order():
    # miss then hit with the same score: precision 1/2 at full recall
    res = _run([[[50, 60, 0.5], [0, 10, 0.5]]], [[[0, 10]]])
    assert res['MR-full-mAP'] == 50.0
    res = _run([[[0, 10, 0.5], [50, 60, 0.5]]], [[[0, 10]]])
    assert res['MR-full-mAP'] == 100.0


def test_map_greedy_matching_locks_gt():
    # tp, fp (GT already taken), tp: P=[1, .5, 2/3], R=[.5, .5, 1]
    # AP = .5 * 1 + .5 * 2/3 = 0.8333
    res = _run([[[0, 10, .9], [0, 10, .8], [20, 30, .7]]],
               [[[0, 10], [20, 30]]])
    assert res['MR-full-mAP'] == 83.33


def test_zero_length_and_inverted_windows():
    # zero-length pred on a zero-length GT: true-union IoU 0/0 = NaN, and
    # NaN < θ is False in the official loop -> a TP for mAP; R1 uses the
    # hull IoU (0/0 -> 0) -> a miss
    res = _run([[[5, 5, 1.0]]], [[[5, 5]]])
    assert res['MR-full-mAP'] == 100.0
    assert res['MR-full-R1@0.5'] == 0.0
    # inverted prediction inside the GT: intersection 0 -> a miss
    res = _run([[[8, 2, 1.0]]], [[[0, 10]]])
    assert res['MR-full-mAP'] == 0.0 and res['MR-full-R1@0.5'] == 0.0


def test_length_buckets_keep_in_range_windows_only():
    preds = [[[10, 50, .9]], [[0, 20, .9]]]
    gts = [[[0, 4], [10, 50]], [[0, 20]]]
    res = _run(preds, gts)
    # short: q0 with GT [0, 4] only -> miss; middle: q1 -> hit;
    # long: q0 with GT [10, 50] -> hit; full: q0 AP .5, q1 AP 1
    assert res['MR-short-mAP'] == 0.0
    assert res['MR-middle-mAP'] == 100.0
    assert res['MR-long-mAP'] == 100.0
    assert res['MR-full-mAP'] == 75.0


def test_empty_bucket_official_nan_r2tuning_falls_back():
    preds, gts = [[[0, 4, .9]], [[0, 2, .9]]], [[[0, 4]], [[0, 8]]]
    off = _run(preds, gts)
    assert math.isnan(off['MR-long-mAP']) and math.isnan(off['MR-middle-mAP'])
    r2 = _run(preds, gts, 'r2tuning')
    # empty middle/long buckets fall back to the full set: (1 + 0) / 2
    assert r2['MR-long-mAP'] == r2['MR-middle-mAP'] == r2['MR-full-mAP'] \
        == 50.0
    assert r2['MR-long-mIoU'] == r2['MR-full-mIoU'] == 62.5


def test_long_bucket_upper_bound_and_zero_length_gt():
    # a 160 s window: outside moment_detr's (30, 150], inside (30, inf]
    preds = [[[0, 160, .9]], [[0, 20, .9]]]
    gts = [[[0, 160]], [[0, 20]]]
    assert math.isnan(_run(preds, gts)['MR-long-mAP'])
    assert _run(preds, gts)['MR-full-mAP'] == 100.0  # full is unfiltered
    assert _run(preds, gts, 'r2tuning')['MR-long-mAP'] == 100.0
    # a zero-length GT window is not "short" (0 < len is required)
    res = _run([[[3, 3, .9]], [[0, 4, .9]]], [[[3, 3]], [[0, 4]]])
    assert res['MR-short-mAP'] == 100.0  # only query 1 is in the bucket


def test_r5_and_miou_r2tuning():
    # R5 looks at the first 5 windows only (list order), best pair
    hit6 = [[50 + i, 60 + i, .9] for i in range(5)] + [[0, 10, .1]]
    hit5 = hit6[:4] + [[0, 10, .1]]
    res = _run([hit6, hit5], [[[0, 10]], [[0, 10]]], 'r2tuning')
    assert res['MR-full-R5@0.7'] == 50.0
    assert res['MR-full-R1@0.3'] == 0.0
    # mIoU = mean top-1 IoU: (5/10 + 2/10) / 2 = 35
    res = _run([[[0, 5, 1]], [[8, 10, 1]]], [[[0, 10]], [[0, 10]]], 'r2tuning')
    assert res['MR-full-mIoU'] == 35.0
    assert res['MR-full-R1@0.3'] == 50.0


def test_key_names_and_order():
    res = _run([[[0, 10, 1]]], [[[0, 10]]])
    assert list(res) == sorted([
        'MR-full-mAP', 'MR-full-mAP@0.5', 'MR-full-mAP@0.75', 'MR-short-mAP',
        'MR-middle-mAP', 'MR-long-mAP', 'MR-full-R1@0.5', 'MR-full-R1@0.7'
    ])
    assert len(_run([[[0, 10, 1]]], [[[0, 10]]], 'r2tuning')) == 16


@pytest.mark.parametrize('bad,msg', [([], 'qid 0 .*empty'),
                                     ([[0, 10, .5], [2, 3]], 'qid 0 .*same')])
def test_invalid_predictions_raise_or_miss(bad, msg):
    preds, gts = [bad, [[0, 10, .9]]], [[[0, 10]], [[0, 10]]]
    with pytest.raises(EvaluationError, match=msg):
        _run(preds, gts)
    res = _run(preds, gts, on_invalid='miss')
    assert res['MR-full-R1@0.5'] == 50.0  # query 0 scored as a miss
    assert res['MR-full-mAP'] == 50.0  # AP 0 for query 0, not dropped


def test_bad_ground_truth_and_ids():
    with pytest.raises(EvaluationError, match='qid 0 .*no GT window'):
        _run([[[0, 10, .9]]], [[]])
    sub = [dict(qid=1, pred_relevant_windows=[[0, 1, 1]])]
    gt = [dict(qid=2, duration=10, relevant_windows=[[0, 1]])]
    with pytest.raises(EvaluationError, match='ids differ'):
        eval_qvhighlights(sub, gt)
    with pytest.raises(EvaluationError, match='duplicated id 1'):
        eval_qvhighlights(sub * 2, gt)


@pytest.mark.parametrize('protocol', ['official', 'r2tuning'])
@pytest.mark.parametrize('seed,quantize', [(0, None), (1, 2.0), (2, 4.0)])
def test_matches_loop_oracle(protocol, seed, quantize):
    sub, gt = O.random_qvhighlights(150, seed=seed, quantize=quantize)
    expected = O.qvhighlights_metrics(sub, gt, r2=protocol == 'r2tuning')
    got = eval_qvhighlights(sub, gt, protocol)
    assert list(got.items()) == list(expected.items())


@pytest.mark.parametrize('protocol', ['official', 'r2tuning'])
def test_missing_queries_raise_or_score_the_shared_ones(protocol):
    sub, gt = O.random_qvhighlights(30, seed=5)
    part = sub[1::2]
    with pytest.raises(EvaluationError, match='15 of 30 ground-truth'):
        eval_qvhighlights(part, gt, protocol)
    lines = []
    got = eval_qvhighlights(part, gt, protocol, allow_missing=True,
                            log=lines.append)
    assert lines == ['Evaluated: 15 / 30 queries']
    # moment_detr's match_number=False: GT restricted to the shared qids
    shared = [g for g in gt if g['qid'] in {p['qid'] for p in part}]
    want = O.qvhighlights_metrics(part, shared, r2=protocol == 'r2tuning')
    assert list(got.items()) == list(want.items())
