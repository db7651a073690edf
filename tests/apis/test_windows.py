"""Sliding windows and the merge of their outputs through a model's
``merge_candidates``."""
import numpy as np
import pytest
import torch

from vtg_plugins.apis.windows import (gather_candidates, merge_window_outputs,
                                      sliding_windows)


def test_sliding_windows_spans():
    assert sliding_windows(10, None, 0.5) == [(0, 10)]
    assert sliding_windows(10, 10, 0.5) == [(0, 10)]
    assert sliding_windows(10, 4, 0.5) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert sliding_windows(11, 4, 0.5) == [(0, 4), (2, 6), (4, 8), (6, 10),
                                           (7, 11)]
    assert sliding_windows(9, 4, 0.) == [(0, 4), (4, 8), (5, 9)]
    with pytest.raises(ValueError, match='overlap'):
        sliding_windows(9, 4, 1.0)


class SortingModel:
    """``merge_candidates`` that records its input and sorts by score."""

    def merge_candidates(self, candidates, duration):
        self.got = candidates, duration
        rows = candidates['windows']
        return rows[rows[:, 2].argsort(descending=True)]


OUTPUTS = [
    dict(
        saliency=torch.tensor([1., 1., 1., 1.]),
        windows=torch.tensor([[0., 4., .9]]),
        labels=torch.tensor([0])),
    dict(
        saliency=torch.tensor([3., 3., 3., 3.]),
        windows=torch.tensor([[0., 4., .8], [-4., 0., .7]]),
        labels=torch.tensor([1, 2])),
]
SPANS = [(0, 4), (2, 6)]


def test_merge_by_hand():
    model = SortingModel()
    out = merge_window_outputs(model, OUTPUTS, SPANS, 2.0, 12.0)
    # clips 0-1 from window 0, 2-3 averaged, 4-5 from window 1
    assert out['pred_saliency_scores'] == [1., 1., 2., 2., 3., 3.]
    candidates, duration = model.got
    assert duration == 12.0 and set(candidates) == {'windows', 'labels'}
    # window 1 starts at clip 2 = 4 s: its rows move to [4, 8] and [0, 4];
    # per-candidate fields follow in window order
    np.testing.assert_allclose(candidates['windows'],
                               [[0, 4, .9], [4, 8, .8], [0, 4, .7]])
    assert candidates['labels'].tolist() == [0, 1, 2]
    np.testing.assert_allclose(out['pred_relevant_windows'],
                               [[0, 4, .9], [4, 8, .8], [0, 4, .7]])
    assert gather_candidates(OUTPUTS, SPANS, 2.0).keys() == candidates.keys()


def test_merge_saliency_or_windows_only():
    sal = [dict(saliency=o['saliency']) for o in OUTPUTS]
    # no windows: merge_candidates is not needed
    out = merge_window_outputs(object(), sal, SPANS, 2.0, 12.0)
    assert set(out) == {'pred_saliency_scores'}
    wins = [dict(windows=o['windows']) for o in OUTPUTS]
    out = merge_window_outputs(SortingModel(), wins, SPANS, 2.0, 12.0)
    assert set(out) == {'pred_relevant_windows'}
    with pytest.raises(ValueError, match='2 window outputs for 3 windows'):
        merge_window_outputs(SortingModel(), wins, SPANS + [(4, 8)], 2.0, 9.)
