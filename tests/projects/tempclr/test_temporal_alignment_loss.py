"""TemporalAlignmentLoss: the official fixture (injected and default
permutations), its definition written with autograd, its helpers
(candidate orders and grids, linspace, non-overlapping clips), bfloat16,
the zero loss, and argument errors."""
import itertools
import random

import numpy as np
import pytest
import torch

from vtg_plugins.registry import MODELS
from vtg_plugins.testing.refs import ref_path
from vtg_tempclr.models.alignment import (cosine_similarity_eps,
                                          soft_alignment_cost)
from vtg_tempclr.models.losses import (TemporalAlignmentLoss,
                                       linspace_positions,
                                       non_overlapping_clips)
from vtg_tempclr.models.losses.temporal_alignment import candidate_grids

BOUNDS = ('text_start', 'text_end', 'video_start', 'video_end')


def _close(a, b):
    return torch.allclose(a, b, atol=1e-10, rtol=1e-8)


def _fixture(metric):
    path = ref_path('tempclr', 'tempclr_alignment_loss.pt')
    return torch.load(path, weights_only=False)[metric]


def _run(loss_fn, ref):
    video = ref['pooled_video'].clone().requires_grad_()
    text = ref['pooled_text'].clone().requires_grad_()
    loss = loss_fn(video, text, *(ref[k] for k in BOUNDS))
    loss.backward()
    return loss, video.grad, text.grad


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
def test_official_alignment_loss_with_the_fixture_permutations(metric):
    ref = _fixture(metric)
    assert ref['config']['metric'] == metric
    lists = iter(ref['first64_shuffled_perms_per_kept_video'])
    loss_fn = MODELS.build(
        dict(
            type='TemporalAlignmentLoss',
            metric=metric,
            clip_per_video=ref['config']['clip_per_video'],
            sampling_threshold=ref['config']['sampling_threshold'],
            total_sample_size=ref['config']['total_sample_size'],
            lbda=ref['config']['lbda'],
            permutation_source=lambda n: next(lists)))
    loss, grad_video, grad_text = _run(loss_fn, ref)
    assert loss.dim() == 0 and _close(loss, ref['loss'])
    assert _close(grad_video, ref['grad_pooled_video'])
    assert _close(grad_text, ref['grad_pooled_text'])
    assert next(lists, None) is None  # one list per kept video


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
def test_default_permutations_follow_the_official_python_random(metric):
    ref = _fixture(metric)
    random.seed(ref['python_random_seed'])
    loss, grad_video, _ = _run(TemporalAlignmentLoss(metric=metric), ref)
    assert _close(loss, ref['loss'])
    assert _close(grad_video, ref['grad_pooled_video'])


def test_non_overlapping_clips_and_selected_rows_match_the_fixture():
    ref = _fixture('dtw')
    bounds = [ref[k].view(3, 16).tolist() for k in BOUNDS]
    for v, expected in enumerate(ref['nonoverlapped_indices']):
        assert non_overlapping_clips(*(b[v] for b in bounds)) == expected
    rows = TemporalAlignmentLoss().selected_rows(*(ref[k] for k in BOUNDS))
    # video 2 keeps one clip (< 5) and is left out; the others pick 5 clips
    # at int(linspace(0, len - 1, 5)) of their kept ones
    kept = ref['nonoverlapped_indices']
    assert rows == [[kept[0][i] for i in (0, 1, 3, 5, 7)],
                    [16 + kept[1][i] for i in (0, 1, 3, 4, 6)]]


def test_no_qualifying_video_gives_a_zero_attached_to_the_graph():
    video = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    text = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    same = torch.zeros(8, dtype=torch.long)  # every clip overlaps clip 0
    loss = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2,
        total_sample_size=2)(video, text, same, same, same, same)
    loss.backward()
    assert loss.dim() == 0 and loss.item() == 0.0
    assert torch.equal(video.grad, torch.zeros_like(video))


def test_candidates_skip_identity_orders_and_refuse_bad_sources():
    calls = []

    def source(n):
        calls.append(n)
        return [(0, 1, 2), (2, 1, 0), (0, 1, 2), (1, 0, 2), (0, 2, 1)]

    loss_fn = TemporalAlignmentLoss(
        clip_per_video=4,
        sampling_threshold=3,
        total_sample_size=4,
        permutation_source=source)
    orders = loss_fn.candidate_orders(2)
    assert orders.dtype == np.int64 and calls == [3, 3]  # once per video
    assert orders.tolist() == [[[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1]]
                               ] * 2
    # lists (unhashable) and a source without the identity up front
    loss_fn.permutation_source = lambda n: [[1, 2, 0], [2, 0, 1], [0, 1, 2],
                                            [1, 0, 2], [0, 2, 1]]
    assert loss_fn.candidate_orders(1).tolist() == [[[0, 1, 2], [1, 2, 0],
                                                     [2, 0, 1], [1, 0, 2]]]
    loss_fn.permutation_source = source
    loss_fn.total_sample_size = 5
    with pytest.raises(ValueError, match='gave only 3 non-identity orders'):
        loss_fn.candidate_orders(1)
    # the first bad order is named, whether it ends the list or not
    for orders, bad in (([(0, 1, 1)], '0, 1, 1'), ([
        (2, 1, 0), (0, 1)
    ], '0, 1'), ([(2, 1, 0), (0, 1, 3)], '0, 1, 3'), ([(2, 1, 0), (1, 0, 2),
                                                       (1, 2, 2), (0, 2, 1),
                                                       (2, 0, 1)], '1, 2, 2')):
        loss_fn.permutation_source = lambda n, orders=orders: orders
        with pytest.raises(
                ValueError,
                match=rf'gave \[{bad}\], not an order of '
                r'range\(3\)'):
            loss_fn.candidate_orders(1)


def test_candidate_grids_index_the_reordered_transposed_distances():
    rng = np.random.default_rng(0)
    dists = torch.rand(3, 4, 4, dtype=torch.float64)
    orders = np.stack(
        [np.stack([rng.permutation(4) for _ in range(5)]) for _ in range(3)])
    grids = candidate_grids(orders)
    assert grids.shape == (4, 4, 15)
    flat = dists.view(-1)
    for v in range(3):
        for s in range(5):
            expected = dists[v][torch.from_numpy(orders[v, s])].t()
            assert torch.equal(flat[grids[:, :, v * 5 + s]], expected)


def test_linspace_positions_are_numpys_truncated_linspace():
    for length in range(1, 40):
        for num in range(1, length + 1):
            expected = [int(f) for f in np.linspace(0, length - 1, num=num)]
            assert linspace_positions(length, num) == expected, (length, num)


def test_non_overlapping_clips_of_a_range_are_those_of_its_slice():
    g = torch.Generator().manual_seed(4)
    bounds = [(torch.randint(0, 30, (24, ), generator=g)).tolist()
              for _ in range(4)]
    for first, stop in ((0, 24), (0, 8), (8, 16), (16, 24), (5, 6)):
        sliced = non_overlapping_clips(*(b[first:stop] for b in bounds))
        assert non_overlapping_clips(*bounds, first,
                                     stop) == [first + i for i in sliced]


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
def test_alignment_loss_matches_its_definition_written_with_autograd(metric):
    """The batched path against the candidates materialised one by one
    (per-video distances, re-ordered rows, the alignment on each, the mean
    cross-entropy), values and gradients in float64."""
    g = torch.Generator().manual_seed(5)
    video = torch.randn(4 * 6, 10, generator=g, dtype=torch.float64)
    text = video + torch.randn(4 * 6, 10, generator=g, dtype=torch.float64)
    bounds = [torch.arange(24) * 3, torch.arange(24) * 3 + 1] * 2
    bounds[0] = bounds[0].clone()
    bounds[0][6:12] = 0  # video 1 keeps one clip: left out
    rng = random.Random(0)
    lists = [
        rng.sample(list(itertools.permutations(range(4))), 24)
        for _ in range(3)
    ]
    loss_fn = TemporalAlignmentLoss(
        metric,
        clip_per_video=6,
        sampling_threshold=4,
        total_sample_size=7,
        permutation_source=lambda n, it=iter(lists): next(it))
    inputs = [t.clone().requires_grad_() for t in (video, text)]
    loss = loss_fn(*inputs, *bounds)
    grads = torch.autograd.grad(loss, inputs)

    ref_inputs = [t.clone().requires_grad_() for t in (video, text)]
    rows = loss_fn.selected_rows(*bounds)
    assert [r[0] // 6 for r in rows] == [0, 2, 3]
    terms = []
    for v, picked in enumerate(rows):
        index = torch.tensor(picked)
        dists = 1 - cosine_similarity_eps(ref_inputs[1][index],
                                          ref_inputs[0][index])
        orders = [list(range(4))]
        orders += [list(o) for o in lists[v] if list(o) != orders[0]][:6]
        costs = torch.stack([
            soft_alignment_cost(dists[torch.tensor(o)].t(), metric)
            for o in orders
        ])
        terms.append(-torch.log_softmax(-costs, 0)[0])
    expected = torch.stack(terms).mean()
    expected_grads = torch.autograd.grad(expected, ref_inputs)
    assert _close(loss, expected)
    for ours, theirs in zip(grads, expected_grads):
        assert _close(ours, theirs)


def test_alignment_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown metric 'soft'"):
        TemporalAlignmentLoss(metric='soft')
    with pytest.raises(ValueError, match='sampling_threshold must be in'):
        TemporalAlignmentLoss(clip_per_video=4, sampling_threshold=5)
    with pytest.raises(ValueError, match='only 5 non-identity orders'):
        TemporalAlignmentLoss(sampling_threshold=3, total_sample_size=32)
    loss_fn = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2, total_sample_size=2)
    video = torch.randn(6, 3)
    bounds = [torch.arange(6)] * 4
    with pytest.raises(ValueError, match='6 rows are not a whole number'):
        loss_fn(video, video, *bounds)
    with pytest.raises(ValueError, match=r'video_end has shape \[3\]'):
        loss_fn(video[:4], video[:4], *[b[:4] for b in bounds[:3]],
                bounds[3][:3])


def test_alignment_loss_in_bfloat16_is_float32_and_close():
    ref = _fixture('otam')
    lists = ref['first64_shuffled_perms_per_kept_video']
    half = {
        k: ref[k].to(torch.bfloat16)
        for k in ('pooled_video', 'pooled_text')
    }
    loss_fn = TemporalAlignmentLoss(
        metric='otam', permutation_source=lambda n, it=iter(lists): next(it))
    loss = loss_fn(half['pooled_video'], half['pooled_text'],
                   *(ref[k] for k in BOUNDS))
    assert loss.dtype == torch.float32
    assert abs(float(loss) - float(ref['loss'])) < 2e-2 * float(ref['loss'])
