"""Soft-min DTW / OTAM and the eps cosine of ``vtg_tempclr.models.alignment``:
the official outputs and gradients (fixtures), a per-cell loop oracle on
shapes the fixture lacks (in both domains of the recursion, with numpy and
with torch arrays), gradcheck, the gathered-grid front-end, the row cosine
distances, the wavefront plans, the soft/hard DTW bound, half precision,
batch independence and argument errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from vtg_plugins.testing.refs import ref_path
from vtg_tempclr.models import soft_min_wavefront
from vtg_tempclr.models.alignment import (cosine_similarity_eps,
                                          gathered_alignment_cost,
                                          row_cosine_distances, soft_dtw,
                                          soft_otam, soft_alignment_cost)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
FUNCTIONS = dict(DTW_cum_dist=soft_dtw, OTAM_cum_dist=soft_otam)


def _close(a, b):
    return torch.allclose(a, b, atol=1e-10, rtol=1e-8)


def _softmin(values, lbda):
    return -lbda * torch.logsumexp(-torch.stack(values) / lbda, dim=0)


def loop_soft_dtw(d: torch.Tensor, lbda: float) -> torch.Tensor:
    """One ``[L, M]`` matrix, cell by cell."""
    rows, cols = d.shape
    c = [[None] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            if i == 0 and j == 0:
                c[i][j] = d[0, 0]
            elif i == 0:
                c[i][j] = d[0, j] + c[0][j - 1]
            elif j == 0:
                c[i][j] = d[i, 0] + c[i - 1][0]
            else:
                c[i][j] = d[i, j] + _softmin(
                    [c[i - 1][j - 1], c[i][j - 1], c[i - 1][j]], lbda)
    return c[-1][-1]


def loop_soft_otam(d: torch.Tensor, lbda: float) -> torch.Tensor:
    """One ``[L, M]`` matrix, zero column padded on both sides."""
    p = F.pad(d, (1, 1))
    rows, cols = p.shape
    c = [[d.new_zeros(())] * cols for _ in range(rows)]
    for j in range(1, cols):
        c[0][j] = p[0, j] + c[0][j - 1]
    for i in range(1, rows):
        for j in range(1, cols):
            near = [c[i - 1][j - 1], c[i][j - 1]]
            if j in (1, cols - 1):
                near.append(c[i - 1][j])
            c[i][j] = p[i, j] + _softmin(near, lbda)
    return c[-1][-1]


def loop_hard_dtw(d: torch.Tensor) -> float:
    rows, cols = d.shape
    c = [[math.inf] * (cols + 1) for _ in range(rows + 1)]
    c[0][0] = 0.0
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            c[i][j] = float(d[i - 1, j - 1]) + min(c[i - 1][j - 1],
                                                   c[i][j - 1], c[i - 1][j])
    return c[-1][-1]


def test_official_soft_dtw_and_otam_outputs_and_gradients():
    refs = torch.load(
        ref_path('tempclr', 'soft_dtw_otam.pt'), weights_only=False)
    seen = set()
    for key, ref in refs.items():
        name, lbda = key.split('/')[0], float(key.split('lbda=')[1])
        dists = ref['dists'].clone().requires_grad_()
        out = FUNCTIONS[name](dists, lbda)
        out.sum().backward()
        assert out.dtype == torch.float64
        assert _close(out, ref['out']), key
        assert _close(dists.grad, ref['grad']), key
        seen.add(name)
    assert seen == set(FUNCTIONS)


def test_official_cosine_similarity_eps():
    ref = torch.load(
        ref_path('tempclr', 'hard_dtw_otam_eval.pt'),
        weights_only=False)['cos_sim/eps=0.01']
    assert _close(
        cosine_similarity_eps(ref['x'], ref['y'], eps=0.01), ref['out'])


@pytest.fixture(params=['exp', 'log'])
def domain(request, monkeypatch):
    """Force the recursion's exponential or log domain."""
    limit = math.inf if request.param == 'exp' else 0.0
    monkeypatch.setattr(soft_min_wavefront, 'EXP_DOMAIN_LIMIT', limit)
    return request.param


@pytest.fixture(params=['numpy', 'torch'])
def arrays(request, monkeypatch):
    """Run the recursion on numpy (the CPU default) or on torch tensors
    (the other devices' path), whatever the device."""
    if request.param == 'torch':
        monkeypatch.setattr(soft_min_wavefront, '_arrays_for',
                            lambda device: soft_min_wavefront._TorchArrays)
    return request.param


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shape', [(1, 1, 1, 1), (1, 2, 1, 4), (2, 1, 4, 1),
                                   (1, 2, 3, 7), (2, 1, 7, 2)])
@pytest.mark.parametrize('lbda', [0.1, 0.7])
def test_matches_cell_loop_on_other_shapes(shape, lbda, device, domain,
                                           arrays):
    g = torch.Generator().manual_seed(sum(shape))
    dists = torch.rand(shape, generator=g, dtype=torch.float64) * 2
    for ours, loop in ((soft_dtw, loop_soft_dtw), (soft_otam, loop_soft_otam)):
        x = dists.clone().requires_grad_()
        expected = torch.stack([loop(m, lbda)
                                for m in x.flatten(0, 1)]).view(shape[:2])
        expected_grad, = torch.autograd.grad(expected.sum(), x)
        y = dists.to(device).clone().requires_grad_()
        out = ours(y, lbda)
        out.sum().backward()
        assert _close(out.detach().cpu(), expected.detach()), ours.__name__
        assert _close(y.grad.cpu(), expected_grad), ours.__name__


def test_large_costs_take_the_log_domain_and_stay_exact():
    """Costs whose exponentials leave float64 (``exp(-300 / 0.1)``) are
    aligned in the log domain: finite, and the cell loop's values."""
    g = torch.Generator().manual_seed(6)
    dists = (torch.rand(2, 3, 4, generator=g, dtype=torch.float64) * 300)
    for ours, loop in ((soft_dtw, loop_soft_dtw), (soft_otam, loop_soft_otam)):
        x = dists.clone().requires_grad_()
        out = ours(x, 0.1)
        grad, = torch.autograd.grad(out.sum(), x)
        y = dists.clone().requires_grad_()
        expected = torch.stack([loop(m, 0.1) for m in y])
        expected_grad, = torch.autograd.grad(expected.sum(), y)
        assert torch.isfinite(out).all() and _close(out, expected)
        assert _close(grad, expected_grad)


def test_wavefront_gradcheck(domain, arrays):
    g = torch.Generator().manual_seed(7)
    for shape in [(2, 3, 4), (1, 1, 5), (2, 4, 4)]:
        x = (torch.rand(shape, generator=g, dtype=torch.float64) *
             2).requires_grad_()
        for fn in (soft_dtw, soft_otam,
                   lambda d: soft_alignment_cost(d, 'otam')):
            assert torch.autograd.gradcheck(fn, (x, ))


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
@pytest.mark.parametrize('rows,cols', [(4, 4), (3, 5), (1, 3)])
def test_gathered_grids_match_the_materialised_ones(metric, rows, cols):
    """``gathered_alignment_cost(source, index)`` is the alignment cost of
    ``source[index]`` (positions repeated across and within grids)."""
    g = torch.Generator().manual_seed(rows * 10 + cols)
    source = torch.rand(7, generator=g, dtype=torch.float64) * 2
    index = torch.randint(0, 7, (rows, cols, 6), generator=g)
    x = source.clone().requires_grad_()
    out = gathered_alignment_cost(x, index.numpy(), metric)
    grad, = torch.autograd.grad((out * torch.arange(6.0)).sum(), x)
    y = source.clone().requires_grad_()
    expected = soft_alignment_cost(y[index].permute(2, 0, 1), metric)
    expected_grad, = torch.autograd.grad((expected * torch.arange(6.0)).sum(),
                                         y)
    assert out.shape == (6, ) and _close(out, expected)
    assert _close(grad, expected_grad)


def test_row_cosine_distances_are_the_eps_cosine_of_each_group():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(9, 5, generator=g, dtype=torch.float64)
    y = torch.randn(9, 5, generator=g, dtype=torch.float64)
    x[4] = 0  # a zero row: finite gradients, as autograd's norm gives
    rows = torch.tensor([[0, 4, 7], [8, 2, 1]])
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    out = row_cosine_distances(xs, ys, rows, eps=0.05)
    weights = torch.rand(out.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((out * weights).sum(), (xs, ys))
    xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
    expected = torch.stack(
        [1 - cosine_similarity_eps(xr[r], yr[r], eps=0.05) for r in rows])
    expected_grads = torch.autograd.grad((expected * weights).sum(), (xr, yr))
    assert _close(out, expected)
    for ours, theirs in zip(grads, expected_grads):
        assert torch.isfinite(ours).all() and _close(ours, theirs)
    assert torch.autograd.gradcheck(
        lambda a, b: row_cosine_distances(a, b, rows), (xs, ys))
    half = row_cosine_distances(xs.bfloat16(), ys.bfloat16(), rows)
    assert half.dtype == torch.float32


@pytest.mark.parametrize('rows,width,up,zero_left', [(3, 4, None, False),
                                                     (4, 2, None, False),
                                                     (3, 5, (0, 4), True),
                                                     (1, 1, None, False)])
def test_wavefront_plans_gather_and_return_along_the_same_moves(
        rows, width, up, zero_left):
    """Every step gathers each cell's diagonal, left and up neighbour (or
    the missing / zero row), and its runs send the backward along exactly
    the moves to grid cells."""
    plan = soft_min_wavefront.WavefrontPlan(rows, width, up, zero_left)
    cell = [divmod(int(f), width) for f in plan.flat_order]
    assert sorted(cell) == [(r, c) for r in range(rows) for c in range(width)]
    number = {rc: i for i, rc in enumerate(cell)}
    missing, zero = plan.num_cells, plan.num_cells + 1
    bounds = [1] + [s.stop for s in plan.steps]
    assert [s.start for s in plan.steps] == bounds[:-1]
    assert bounds[-1] == plan.num_cells  # every cell but the first, once
    for step in plan.steps:
        cells = cell[step.start:step.stop]
        assert len({r + c for r, c in cells}) == 1
        gather = step.gather.reshape(3, -1)
        moved = set()
        for k, (r, c) in enumerate(cells):
            wanted = [(r - 1, c - 1), (r, c - 1), (r - 1, c)]
            for slot, (nr, nc) in enumerate(wanted):
                if slot == 2 and up is not None and c not in up:
                    expected = missing
                elif nc == -1 and zero_left and nr >= 0:
                    expected = zero
                else:
                    expected = number.get((nr, nc), missing)
                assert gather[slot, k] == expected
                if expected < missing:
                    moved.add((slot, k, expected))
        by_runs = {(run.slot, run.first + i, run.target + i)
                   for run in step.runs
                   for i in range(run.length)}
        assert by_runs == moved


def test_soft_dtw_stays_within_the_soft_min_gap_of_hard_dtw():
    g = torch.Generator().manual_seed(0)
    dists = torch.rand(3, 4, 6, 9, generator=g, dtype=torch.float64)
    lbda = 0.05
    soft = soft_dtw(dists, lbda)
    # each soft-min undercuts the min by at most lbda * log(3); a path
    # passes through at most L + M - 1 cells
    gap = lbda * math.log(3) * (6 + 9 - 1)
    for b in range(3):
        for n in range(4):
            hard = loop_hard_dtw(dists[b, n])
            assert hard - gap <= float(soft[b, n]) <= hard + 1e-12


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_aligns_in_float32(dtype):
    g = torch.Generator().manual_seed(1)
    dists = (torch.rand(2, 3, 16, 16, generator=g) * 2).to(dtype)
    reference = dists.double()
    for fn in (soft_dtw, soft_otam):
        x = dists.clone().requires_grad_()
        out = fn(x, 0.1)
        out.sum().backward()
        assert out.dtype == torch.float32 and x.grad.dtype == dtype
        assert torch.isfinite(x.grad.float()).all()
        assert torch.allclose(out.double(), fn(reference, 0.1), rtol=1e-5)


def test_batch_items_are_aligned_independently():
    g = torch.Generator().manual_seed(2)
    dists = torch.rand(2, 3, 5, 4, generator=g, dtype=torch.float64)
    for fn in (soft_dtw, soft_otam):
        whole = fn(dists, 0.1)
        for b in range(2):
            for n in range(3):
                assert _close(whole[b, n], fn(dists[b, n], 0.1))


def test_otam_cost_sums_both_directions():
    g = torch.Generator().manual_seed(3)
    dists = torch.rand(2, 5, 3, generator=g, dtype=torch.float64)
    both = soft_otam(dists, 0.1) + soft_otam(dists.transpose(1, 2), 0.1)
    assert _close(soft_alignment_cost(dists, 'otam'), both)
    assert not _close(soft_otam(dists, 0.1), both / 2)
    assert _close(soft_alignment_cost(dists, 'dtw'), soft_dtw(dists, 0.1))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='expects distances'):
        soft_dtw(torch.rand(5))
    with pytest.raises(ValueError, match='L, M >= 1'):
        soft_otam(torch.rand(2, 0, 3))
    with pytest.raises(ValueError, match='lbda must be > 0'):
        soft_dtw(torch.rand(2, 2), lbda=0.0)
    with pytest.raises(ValueError, match="unknown alignment metric 'l2'"):
        soft_alignment_cost(torch.rand(2, 2), 'l2')
