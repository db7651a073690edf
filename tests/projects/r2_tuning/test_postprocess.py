"""R²-Tuning's post-processing: hand values, argument checks, the official
outputs of the parity fixture, and the merge of several windows'
candidates."""
import pytest
import torch

from vtg_plugins.testing import ref_path
from vtg_r2_tuning.models.postprocess import (merge_window_candidates,
                                              r2_postprocess)


def test_normal_nms_keeps_every_row_and_zeroes_overlaps():
    win = torch.tensor([[0., 10., .9], [1., 10., .8], [20., 30., .7]])
    before = win.clone()
    out = r2_postprocess(win, 40., None, dict(type='normal', thres=0.7))
    assert torch.equal(win, before)  # input untouched
    # IoU([0,10],[1,10]) = 0.9 >= 0.7 -> score 0, row kept and sorted last
    assert out.tolist() == [[0., 10., pytest.approx(.9)],
                            [20., 30., pytest.approx(.7)], [1., 10., 0.]]


def test_linear_nms_decays_by_one_minus_iou():
    win = torch.tensor([[0., 10., .9], [1., 10., .8], [20., 30., .7]])
    out = r2_postprocess(win, 40., None, dict(type='linear'))
    assert out[:, 2].tolist() == pytest.approx([.9, .7, .8 * (1 - .9)])
    assert out[2, :2].tolist() == [1., 10.]


def test_sequential_nms_uses_decayed_scores():
    # after row 0 decays row 1 below row 2, row 2 (not row 1) suppresses
    win = torch.tensor([[0., 4., .9], [2., 6., .85], [3., 6., .5]])
    out = r2_postprocess(win, 10., None, dict(type='linear'))
    # iou(r0, r1) = 2/6, iou(r0, r2) = 1/6 -> r1 .5667, r2 .4167;
    # then iou(r1, r2) = 3/4 -> r2 .4167 * .25
    assert out[:, 2].tolist() == pytest.approx(
        [.9, .85 * (1 - 2 / 6), .5 * (1 - 1 / 6) * (1 - .75)], rel=1e-6)


def test_unit_rounding_only_before_duration_and_clamp():
    win = torch.tensor([[3.3, 7.7, .9], [20.2, 26., .8], [-1., 3., .1]])
    out = r2_postprocess(win, 25., 2., None)
    assert out.tolist() == [[4., 8., pytest.approx(.9)],
                            [pytest.approx(20.2), 25.,
                             pytest.approx(.8)], [0., 4.,
                                                  pytest.approx(.1)]]


def test_bad_arguments():
    with pytest.raises(ValueError, match='nms_cfg type'):
        r2_postprocess(torch.zeros(2, 3), 1., None, dict(type='soft'))
    with pytest.raises(ValueError, match='thres'):
        r2_postprocess(torch.zeros(2, 3), 1., None, dict(type='normal'))
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        r2_postprocess(torch.zeros(2, 2), 1.)


def test_matches_official_postprocessing_fixture():
    fx = torch.load(ref_path('r2_tuning', 'parity_qvh.pt'), weights_only=True)
    cfgs = {
        'qvh_normal0.7_unit2': (2, dict(type='normal', thres=0.7)),
        'linear_unit0.1': (0.1, dict(type='linear')),
        'linear_nounit': (None, dict(type='linear')),
    }
    for name, (unit, nms) in cfgs.items():
        for i, raw in enumerate(fx['outputs']['per_sample_test_mode']):
            duration = int(fx['inputs']['num_clips'][i]) / 0.5
            ours = r2_postprocess(raw['boundary'], duration, unit, nms)
            ref = fx['outputs']['postprocessed'][name][i]
            assert ours.tolist() == ref['pred_relevant_windows'], name


def test_merge_window_candidates_by_hand():
    # two windows' rows, already in video time: [0, 4] twice (IoU 1)
    rows = torch.tensor([[0., 4., .9], [4., 8., .8], [0., 4., .7]])
    nms = dict(type='normal', thres=0.7)
    out = merge_window_candidates(rows, 12., 50, None, nms)
    # the duplicate of the best row is zeroed by NMS, never dropped
    assert out.tolist() == [[0., 4., pytest.approx(.9)],
                            [4., 8., pytest.approx(.8)], [0., 4., 0.]]
    # only the 2 best rows compete; the duration clamps
    out = merge_window_candidates(rows, 7., 2, None, nms)
    assert out.tolist() == [[0., 4., pytest.approx(.9)],
                            [4., 7., pytest.approx(.8)]]
    # rows of equal score keep their (window) order: a stable selection
    tied = torch.tensor([[6., 8., .5], [0., 2., .5], [2., 4., .5]])
    out = merge_window_candidates(tied, 12., 2, None, None)
    assert out[:, :2].tolist() == [[6., 8.], [0., 2.]]
    # units round like the model's predict
    out = merge_window_candidates(
        torch.tensor([[0.9, 3.2, .4]]), 12., 5, 2., nms)
    assert out.tolist() == [[0., 4., pytest.approx(.4)]]
