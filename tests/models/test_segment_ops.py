import math

import pytest
import torch

from vtg_plugins.models import r2_postprocess, segment_iou
from vtg_plugins.testing import ref_path


def test_segment_iou_hand_values():
    a = torch.tensor([[0., 2.], [5., 5.]])
    b = torch.tensor([[1., 3.], [4., 6.], [5., 5.]])
    iou = segment_iou(a, b)
    assert iou[0, 0] == pytest.approx(1 / 3)  # inter 1, union 3
    assert iou[0, 1] == 0  # disjoint
    assert iou[1, 1] == 0  # zero-length inside: inter 0, union 2
    assert math.isnan(iou[1, 2])  # 0 / 0, kept like nncore


def test_normal_nms_keeps_every_row_and_zeroes_overlaps():
    win = torch.tensor([[0., 10., .9], [1., 10., .8], [20., 30., .7]])
    before = win.clone()
    out = r2_postprocess(win, 40., None, dict(type='normal', thres=0.7))
    assert torch.equal(win, before)  # input untouched
    # IoU([0,10],[1,10]) = 0.9 >= 0.7 -> score 0, row kept and sorted last
    assert out.tolist() == [[0., 10., pytest.approx(.9)],
                            [20., 30., pytest.approx(.7)],
                            [1., 10., 0.]]


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
                            [pytest.approx(20.2), 25., pytest.approx(.8)],
                            [0., 4., pytest.approx(.1)]]


def test_bad_arguments():
    with pytest.raises(ValueError, match='nms_cfg type'):
        r2_postprocess(torch.zeros(2, 3), 1., None, dict(type='soft'))
    with pytest.raises(ValueError, match='thres'):
        r2_postprocess(torch.zeros(2, 3), 1., None, dict(type='normal'))
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        r2_postprocess(torch.zeros(2, 2), 1.)


def test_matches_official_postprocessing_fixture():
    fx = torch.load(ref_path('r2_tuning', 'parity_qvh.pt'),
                    weights_only=True)
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
