"""BatchAllTripletLoss against a loop over all triplets written from the
official definition (non-squared distances, mean over the triplets with a
positive loss) and against a hand computation."""
import itertools
import math

import pytest
import torch

from vtg_plugins.registry import MODELS
from vtg_tstl.models.losses import BatchAllTripletLoss

EPS = 1e-8


def loop_oracle(features, labels, margin):
    x = features.double().tolist()
    y = labels.tolist()
    total, count = 0.0, 0
    for a, p, n in itertools.product(range(len(y)), repeat=3):
        if a == p or y[a] != y[p] or y[n] == y[a]:
            continue
        loss = max(0.0, math.dist(x[a], x[p]) - math.dist(x[a], x[n]) + margin)
        total += loss
        count += loss > EPS
    return total / (count + EPS)


def test_hand_computed_one_dimension():
    # labels 0, 0, 1 at 0, 2, 2.5: triplets (0,1,2): 2 - 2.5 + 1 = 0.5 and
    # (1,0,2): 2 - 0.5 + 1 = 2.5; squared distances would give 0 and 4.75
    feats = torch.tensor([[0.0], [2.0], [2.5]])
    loss = BatchAllTripletLoss()(feats, torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(3.0 / 2)


@pytest.mark.parametrize(
    'labels',
    [
        [0, 0, 1, 1, 2, 2, 3, 3],  # the sampler's 4 classes x 2 clips
        [0, 1, 0, 1, 1, 2, 2, 0, 3],
        [5, 5, 5, 5, 7],
    ])
@pytest.mark.parametrize('margin', [1.0, 0.3])
def test_matches_loop_oracle(labels, margin):
    gen = torch.Generator().manual_seed(len(labels))
    feats = torch.randn(len(labels), 6, generator=gen)
    labels = torch.tensor(labels)
    ours = BatchAllTripletLoss(margin=margin)(feats, labels)
    assert ours.item() == pytest.approx(
        loop_oracle(feats, labels, margin), rel=1e-5)


def test_loss_weight_and_registry():
    feats = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = MODELS.build(
        dict(type='BatchAllTripletLoss', margin=0.5, loss_weight=0.25))
    assert loss(feats, labels).item() == pytest.approx(
        0.25 * loop_oracle(feats, labels, 0.5), rel=1e-5)


def test_no_violation_and_no_triplet_give_zero():
    # classes far apart: every triplet is easy
    feats = torch.tensor([[0.0, 0], [0, 0.1], [10, 10], [10, 10.1]])
    assert BatchAllTripletLoss()(feats, torch.tensor([0, 0, 1,
                                                      1])).item() == 0.0
    # all labels different: no positive pair
    assert BatchAllTripletLoss()(feats, torch.arange(4)).item() == 0.0


def test_identical_features_have_finite_gradients():
    feats = torch.tensor([[1.0, 2], [1, 2], [1, 2], [3, 1]],
                         requires_grad=True)
    loss = BatchAllTripletLoss()(feats, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(feats.grad).all()
    assert loss.item() == pytest.approx(
        loop_oracle(feats.detach(), torch.tensor([0, 0, 1, 1]), 1.0), rel=1e-5)


def test_gradient_matches_float64_finite_differences():
    feats = torch.randn(
        6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda f: BatchAllTripletLoss()(f, labels),
                                    (feats.requires_grad_(), ))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r'features \[N, D\] and labels'):
        BatchAllTripletLoss()(torch.randn(4, 2, 2), torch.zeros(4))
    with pytest.raises(ValueError, match=r'got \[4, 2\] and \[3\]'):
        BatchAllTripletLoss()(torch.randn(4, 2), torch.zeros(3))
