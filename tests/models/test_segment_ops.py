import math

import pytest
import torch

from vtg_plugins.models import segment_iou


def test_segment_iou_hand_values():
    a = torch.tensor([[0., 2.], [5., 5.]])
    b = torch.tensor([[1., 3.], [4., 6.], [5., 5.]])
    iou = segment_iou(a, b)
    assert iou[0, 0] == pytest.approx(1 / 3)  # inter 1, union 3
    assert iou[0, 1] == 0  # disjoint
    assert iou[1, 1] == 0  # zero-length inside: inter 0, union 2
    assert math.isnan(iou[1, 2])  # 0 / 0, kept like nncore


def test_segment_iou_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 2, generator=g).sort(1)[0] * 10
    b = torch.rand(7, 2, generator=g).sort(1)[0] * 10
    iou = segment_iou(a, b)
    assert iou.shape == (5, 7)
    for i in range(5):
        for j in range(7):
            inter = max(0., min(a[i, 1], b[j, 1]) - max(a[i, 0], b[j, 0]))
            union = (a[i, 1] - a[i, 0]) + (b[j, 1] - b[j, 0]) - inter
            assert iou[i, j] == pytest.approx(float(inter / union))
    torch.testing.assert_close(segment_iou(b, a), iou.T)
