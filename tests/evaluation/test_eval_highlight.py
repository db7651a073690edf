"""Highlight detection: QVHighlights HL-mAP/Hit1 (sklearn-free PR curve),
YouTube Highlights and TVSum (R²-Tuning), hand-computed and vs oracles."""
import numpy as np
import pytest
import torch

from vtg_plugins.evaluation.functional import (EvaluationError, binary_ap,
                                               qvhighlights_hl, tvsum_map,
                                               youtube_map)
from vtg_plugins.testing import ref_path
from . import oracles as O


def _ap(scores, labels):
    s = np.array([scores], float)
    return binary_ap(s, np.array([labels], bool), np.ones_like(s, bool))[0]


def test_binary_ap_hand_computed():
    # precision at the positives: 1 and 2/3
    assert _ap([.9, .8, .7, .6], [1, 0, 1, 0]) == pytest.approx(5 / 6)
    # tied scores form one threshold: P(.5)=1/2, P(.1)=2/3 -> envelope 2/3
    assert _ap([.5, .5, .1], [1, 0, 1]) == pytest.approx(2 / 3)
    # points after full recall (lower scores) do not count
    assert _ap([.9, .5, .1, .05], [1, 1, 0, 0]) == 1.0
    # all-zero labels give 0, all-one labels give 1 (get_ap special cases)
    assert _ap([.3, .2], [0, 0]) == 0.0
    assert _ap([.3, .2], [1, 1]) == 1.0


def test_binary_ap_matches_sklearn_formula_on_random_rows():
    rng = np.random.default_rng(0)
    s = np.round(rng.random((300, 40)), 1)  # many ties
    y = rng.random((300, 40)) < 0.3
    got = binary_ap(s, y, np.ones_like(y))
    want = [O.highlight_ap(y[i].astype(float), s[i]) for i in range(300)]
    assert np.array_equal(got, np.array(want, float))  # bit-identical


def _gt(n_clips, ids, scores):
    g = np.zeros((n_clips, 3))
    g[ids] = scores
    return g


def test_qvh_hl_truncation_padding_and_hit1():
    # 4 GT clips (duration 8 s); the prediction has 6 values whose maximum
    # (index 5) lies past the GT: Hit1 misses; AP uses the first 4 values
    gt = _gt(4, [1], [[4, 4, 4]])
    res = qvhighlights_hl([np.array([.1, .9, .2, .3, .0, 5.])], [gt])
    assert res['HL-min-VeryGood-Hit1'] == 0.0
    assert res['HL-min-VeryGood-mAP'] == 100.0
    # a short prediction is zero-padded: clip 3 (positive) gets score 0,
    # tied with clip 2: one threshold after clips 0-1, P = 1/4 there
    gt = _gt(4, [3], [[4, 4, 4]])
    res = qvhighlights_hl([np.array([.5, .4])], [gt])
    assert res['HL-min-VeryGood-mAP'] == 25.0


def test_qvh_hl_hit1_first_argmax_and_annotator_max():
    # ties: argmax takes clip 0; only annotator 2 rates it >= 4
    gt = _gt(3, [0, 1], [[2, 3, 4], [4, 4, 4]])
    res = qvhighlights_hl([np.array([.7, .7, .1])], [gt])
    assert res['HL-min-VeryGood-Hit1'] == 100.0
    gt = _gt(3, [0, 1], [[2, 3, 3], [4, 4, 4]])
    res = qvhighlights_hl([np.array([.7, .7, .1])], [gt])
    assert res['HL-min-VeryGood-Hit1'] == 0.0
    assert res['HL-min-Good-Hit1'] == 100.0


def test_qvh_hl_levels_and_all_negative_annotator():
    # annotators 0/1/2 give [2, 3, 4] to clip 0 and 0 elsewhere; at the
    # VeryGood level only annotator 2 has a positive: APs (0, 0, 1) -> 33.33
    gt = _gt(3, [0], [[2, 3, 4]])
    res = qvhighlights_hl([np.array([.9, .1, .2])], [gt])
    assert res['HL-min-Fair-mAP'] == 100.0
    assert res['HL-min-Good-mAP'] == 66.67
    assert res['HL-min-VeryGood-mAP'] == 33.33


def test_qvh_hl_bad_input():
    with pytest.raises(EvaluationError, match="qid 'a'.*empty"):
        qvhighlights_hl([np.array([])], [np.zeros((3, 3))], ['a'])
    with pytest.raises(EvaluationError, match="qid 'a'.*NaN"):
        qvhighlights_hl([np.array([np.nan, 1])], [np.zeros((3, 3))], ['a'])


def test_youtube_hand_computed_and_no_positive_video():
    # ranked labels [1, 1, 0] -> AP 1; a video without positives -> 0
    assert youtube_map([[.9, .1, .5], [.3, .2]], [[1, -1, 1], [-1, -1]]) == 0.5
    # ranked labels [0, 1]: (1 - 0) * (0 + 1/2) / 2 = 0.25 (trapezoid)
    assert youtube_map([[.9, .1]], [[-1, 1]]) == 0.25


def test_youtube_matches_official_fixture():
    d = torch.load(
        ref_path('r2_tuning', 'parity_youtube.pt'), weights_only=True)
    n = d['inputs']['num_clips'].tolist()
    sal = [o['saliency'].numpy() for o in d['outputs']['per_sample_test_mode']]
    match = [d['inputs']['match'][i, :n[i]].tolist() for i in range(2)]
    want = d['outputs']['postprocessed']['youtube_evaluate']['mAP']
    assert youtube_map(sal, match) == want


def test_youtube_ties_follow_torch_argsort():
    # all-tied scores: the official (unstable) torch order, not list order
    pred, match = [0.5] * 19, [1, -1] * 9 + [1]
    order = torch.argsort(torch.tensor(pred), descending=True).numpy()
    label = (np.array(match) > 0)[order].astype(float).tolist()
    assert youtube_map([pred], [match]) == round(O.trapezoid_ap(label), 5)
    assert youtube_map([pred], [match]) == O.youtube_highlights_map([pred],
                                                                    [match])


def test_tvsum_lower_median_and_top5_positives():
    # one annotator; column [1, 1, 2, 1, 1, 1, 1, 2]: torch's lower median
    # is 1 -> positives are clips 2 and 7. Ranking by pred puts clips
    # 2,0,1,5,6 in the top 5: labels [1, 0, 0, 0, 0] -> num_gt = 1 (within
    # the top 5, not 2), AP = 1 * (1 + 1) / 2 = 1.0
    anno = [[1], [1], [2], [1], [1], [1], [1], [2]]
    pred = [.8, .7, .9, .1, .2, .6, .5, .0]
    assert tvsum_map([pred], [anno]) == 1.0
    # no positive in the top 5 (clips 0, 1, 3, 4, 5) -> 0
    assert tvsum_map([[.9, .8, .0, .7, .6, .5, .1, .2]], [anno]) == 0.0


def test_tvsum_and_youtube_match_oracle_on_random_videos():
    rng = np.random.default_rng(1)
    for decimals in (6, 1):
        preds = [
            np.round(rng.random(n), decimals).tolist()
            for n in rng.integers(5, 40, 20)
        ]
        annos = [rng.integers(1, 6, (len(p) + 2, 20)).tolist() for p in preds]
        matches = [rng.choice([-1, 1], len(p)).tolist() for p in preds]
        assert tvsum_map(preds, annos) == O.tvsum_topk_map(preds, annos)
        assert youtube_map(preds, matches) == O.youtube_highlights_map(
            preds, matches)


def test_video_errors_name_the_video():
    with pytest.raises(EvaluationError, match="video 'v1'"):
        youtube_map([[.1, .2, .3]], [[1, -1]], ['v1'])
    with pytest.raises(EvaluationError, match="video 'v1'"):
        tvsum_map([[.1, .2]], [[[1] * 20]], ['v1'])
