"""Ego4D NLQ (official EGO4D evaluator): hand-computed edge cases and the
loop oracle on random submissions."""
import math

import numpy as np
import pytest

from vtg_plugins.evaluation.functional import EvaluationError
from vtg_plugins.evaluation.functional import ego4d_nlq_metrics as nlq
from . import oracles as O

GT = dict(videos=[
    dict(clips=[
        dict(
            clip_uid='c',
            annotations=[
                dict(
                    annotation_uid='a',
                    language_queries=[
                        dict(clip_start_sec=0.0, clip_end_sec=10.0),
                        dict(clip_start_sec=5.0,
                             clip_end_sec=5.0),  # zero length
                        dict(clip_start_sec=20.0,
                             clip_end_sec=30.0),  # a query w/o text
                    ])
            ])
    ])
])


def _rec(times, idx=0):
    return dict(
        clip_uid='c', annotation_uid='a', query_idx=idx, predicted_times=times)


def test_strict_threshold():
    # IoU = 5 / 10 = 0.5 exactly: not a hit at 0.5 (strict >), hit at 0.3
    res = nlq([_rec([[0, 5]])], GT)
    assert res['R@1_IoU0.5'] == 0.0 and res['R@1_IoU0.3'] == 100.0
    assert res['mIoU'] == 50.0


def test_list_order_extra_elements_and_short_lists():
    # the first window misses, the second hits: only R@3 / R@5 count it;
    # the third element (a score) is ignored and never used to re-sort
    res = nlq([_rec([[50, 60, .9], [0, 10, .1]])], GT)
    assert res['R@1_IoU0.3'] == 0.0
    assert res['R@3_IoU0.5'] == 100.0 and res['R@5_IoU0.5'] == 100.0
    assert res['mIoU'] == 0.0


def test_denominator_is_number_of_records_and_query_idx():
    # query_idx 2 (a query without text still counts in the list)
    res = nlq([_rec([[20, 30]], 2), _rec([[50, 60]], 0)], GT)
    assert res['R@1_IoU0.5'] == 50.0
    assert list(res) == [
        'R@1_IoU0.3', 'R@1_IoU0.5', 'R@3_IoU0.3', 'R@3_IoU0.5', 'R@5_IoU0.3',
        'R@5_IoU0.5', 'mIoU', 'mean_R1', 'mean_R1_R5'
    ]
    # R@1 hits 1 of 2 at both IoUs, R@5 too
    assert res['mean_R1'] == 50.0 and res['mean_R1_R5'] == 50.0


def test_mean_r1_and_mean_r1_r5_are_the_challenge_means():
    # IoU 0.4 with the GT [0, 10]: a hit at 0.3 only; the second window
    # (rank 2) hits at both -> R@1 = (100, 0), R@5 = (100, 100)
    res = nlq([_rec([[0, 4], [0, 10]])], GT)
    assert (res['R@1_IoU0.3'], res['R@1_IoU0.5']) == (100.0, 0.0)
    assert (res['R@5_IoU0.3'], res['R@5_IoU0.5']) == (100.0, 100.0)
    assert res['R@3_IoU0.5'] == 100.0  # not part of either mean
    assert res['mean_R1'] == 50.0
    assert res['mean_R1_R5'] == 75.0
    # without R@5 there is no mean_R1_R5 (and never a six-value mean)
    res = nlq([_rec([[0, 4]])], GT, topk=(1, 3))
    assert 'mean_R1_R5' not in res and res['mean_R1'] == 50.0
    assert 'mean_R' not in res


def test_duplicates_raise_or_count_twice():
    recs = [_rec([[0, 10]]), _rec([[0, 10]]), _rec([[50, 60]], 2)]
    with pytest.raises(EvaluationError, match="query_idx=0: duplicated"):
        nlq(recs, GT)
    res = nlq(recs, GT, allow_duplicates=True)
    assert res['R@1_IoU0.5'] == pytest.approx(200 / 3)


def test_zero_hull_is_nan_and_inverted_window_is_a_miss():
    # zero-length prediction on the zero-length GT: 0/0 -> NaN, never a hit,
    # and the official np.mean makes mIoU NaN
    res = nlq([_rec([[5, 5]], 1), _rec([[0, 10]])], GT)
    assert res['R@1_IoU0.3'] == 50.0 and math.isnan(res['mIoU'])
    # inverted window inside the GT: intersection 0
    res = nlq([_rec([[8, 2]])], GT)
    assert res['R@5_IoU0.3'] == 0.0 and res['mIoU'] == 0.0


@pytest.mark.parametrize('times,msg', [([], 'empty predicted_times'),
                                       ([[0, 10], [0, 5, .3]], 'same')])
def test_crash_cases_raise_or_miss(times, msg):
    recs = [_rec(times), _rec([[20, 30]], 2)]
    with pytest.raises(EvaluationError, match=f"clip_uid='c'.*{msg}"):
        nlq(recs, GT)
    res = nlq(recs, GT, on_invalid='miss')
    assert res['R@5_IoU0.3'] == 50.0 and res['mIoU'] == 50.0


def test_unknown_instance_and_query():
    with pytest.raises(EvaluationError, match='not present'):
        nlq([dict(_rec([[0, 1]]), annotation_uid='x')], GT)
    with pytest.raises(EvaluationError, match='no such query'):
        nlq([_rec([[0, 1]], 3)], GT)


@pytest.mark.parametrize('seed,quantize', [(0, None), (1, 5.0)])
def test_matches_loop_oracle(seed, quantize):
    res, gt = O.random_ego4d_nlq(300, seed=seed, quantize=quantize)
    recall, miou = O.ego4d_nlq_recalls(res, gt)
    got = nlq(res, gt)
    want = [100 * recall[i, j] for j in range(3) for i in range(2)]
    assert list(got.values())[:6] == want
    assert got['mIoU'] == 100 * miou or (math.isnan(miou)
                                         and math.isnan(got['mIoU']))
    r1 = [100 * recall[i, 0] for i in range(2)]
    r5 = [100 * recall[i, 2] for i in range(2)]
    assert got['mean_R1'] == pytest.approx(np.mean(r1))
    assert got['mean_R1_R5'] == pytest.approx(np.mean(r1 + r5))


def test_missing_queries_raise_or_divide_by_records():
    res, gt = O.random_ego4d_nlq(40, seed=3)
    part = res[::3]  # 14 of 40 queries
    lines = []
    with pytest.raises(EvaluationError, match='26 of 40 GT queries'):
        nlq(part, gt, log=lines.append)
    assert lines == ['Evaluated: 14 / 40 instances']
    got = nlq(part, gt, allow_missing=True)
    recall, miou = O.ego4d_nlq_recalls(part, gt)  # the official loop
    assert list(got.values())[:6] == [
        100 * recall[i, j] for j in range(3) for i in range(2)
    ]
    assert got['mIoU'] == 100 * miou


def test_queries_without_text_are_not_required():
    # GT has three queries, none with text (as the official val split's
    # two text-less ones): a submission of one record is complete
    lines = []
    res = nlq([_rec([[0, 10]])], GT, log=lines.append)
    assert res['R@1_IoU0.5'] == 100.0
    assert lines == ['Evaluated: 1 / 3 instances']
