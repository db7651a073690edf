"""Soft-min DTW / OTAM and the eps cosine of ``vtg_tempclr.models.alignment``:
the official outputs and gradients (fixtures), a per-cell loop oracle on
shapes the fixture lacks, the soft/hard DTW bound, half precision, batch
independence and argument errors."""
import math

import pytest
import torch
import torch.nn.functional as F

from vtg_plugins.testing.refs import ref_path
from vtg_tempclr.models.alignment import (cosine_similarity_eps, soft_dtw,
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


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('shape', [(1, 1, 1, 1), (1, 2, 1, 4), (2, 1, 4, 1),
                                   (1, 2, 3, 7), (2, 1, 7, 2)])
@pytest.mark.parametrize('lbda', [0.1, 0.7])
def test_matches_cell_loop_on_other_shapes(shape, lbda, device):
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
