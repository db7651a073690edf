"""Soft-min sequence alignment (DTW and OTAM) for TempCLR's training losses,
and the eps cosine distances they align.

Both recursions follow the official training functions (``DTW_cum_dist``,
``OTAM_cum_dist`` of ``tempclr/utils/metrics.py``) cell for cell, with the
soft minimum ``softmin_lbda(a, b, ...) = -lbda * logsumexp(-[a, b, ...] /
lbda)``; only the final cell of the cumulative matrix is returned. They run
one anti-diagonal at a time over the whole batch, with an analytic backward
(:mod:`.soft_min_wavefront`), and agree with the official loops to ~1e-15 in
float64.

The recursion gathers the cells of its grids from a flat tensor by an
index; :func:`gathered_alignment_cost` takes that index from the caller, so
a loss can align many re-orderings of a few distance matrices without
materialising them.

Precision: distances are computed and aligned in ``promote_types(dtype,
float32)``, so float16/bfloat16 distances are aligned in float32 (with
``lbda = 0.1`` the exponents ``cost / lbda`` and the accumulated costs lose
all precision in half precision), float64 stays float64; small grids are
aligned in float64 whatever the dtype (the recursion's exponential domain).
The results have the working dtype.
"""
import functools
from typing import NamedTuple, Tuple

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .soft_min_wavefront import (SoftMinWavefront, WavefrontPlan,
                                 wavefront_plan)

#: the metrics :func:`soft_alignment_cost` knows
ALIGNMENT_METRICS = ('dtw', 'otam')


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype distances are computed and aligned in."""
    return torch.promote_types(dtype, torch.float32)


def _cast(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor.to(dtype)``, without the call's overhead when it is one."""
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def cosine_similarity_eps(x: torch.Tensor,
                          y: torch.Tensor,
                          eps: float = 0.01) -> torch.Tensor:
    """Cosine similarity with ``eps`` added to the product of the norms (the
    official ``cos_sim(epsilon=0.01)``): ``x_i . y_j / (|x_i| |y_j| + eps)``.

    Args:
        x: ``[..., L, H]``.
        y: ``[..., M, H]`` (leading dims broadcast with ``x``'s).
        eps: added to the denominator.

    Returns:
        ``[..., L, M]``.
    """
    numerator = x @ y.transpose(-1, -2)
    norms = x.norm(dim=-1)[..., :, None] * y.norm(dim=-1)[..., None, :]
    return numerator / (norms + eps)


class _RowCosineDistances(torch.autograd.Function):
    """``apply(x, y, rows, eps)``: see :func:`row_cosine_distances`."""

    @staticmethod
    def forward(ctx, x, y, rows, eps):
        work = working_dtype(x.dtype)
        groups, size = rows.shape
        flat = rows.reshape(-1)
        xs = _cast(x.index_select(0, flat), work).view(groups, size, -1)
        ys = _cast(y.index_select(0, flat), work).view(groups, size, -1)
        x_norm = torch.linalg.vector_norm(xs, dim=2, keepdim=True)
        y_norm = torch.linalg.vector_norm(ys, dim=2, keepdim=True)
        denominator = (x_norm * y_norm.transpose(1, 2)).add_(eps)
        similarity = torch.bmm(xs, ys.transpose(1, 2)).div_(denominator)
        # a zero row has zero similarities, so its norm gradient is 0 / tiny
        # = 0, as autograd's norm takes it
        tiny = torch.finfo(work).tiny
        ctx.save_for_backward(xs, ys, x_norm, y_norm, x_norm.clamp_min(tiny),
                              y_norm.clamp_min(tiny), denominator, similarity,
                              flat)
        ctx.tables = (x.shape[0], x.dtype), (y.shape[0], y.dtype)
        return 1 - similarity

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (xs, ys, x_norm, y_norm, x_safe, y_safe, denominator, similarity,
         flat) = ctx.saved_tensors
        # d = 1 - n / q with q = |x_i| |y_j| + eps: dd/dn = -1 / q,
        # dd/dq = n / q^2
        grad_n = grad / denominator  # the negated gradient of n
        grad_q = grad_n * similarity
        grad_xs = torch.baddbmm(
            xs * (torch.bmm(grad_q, y_norm) / x_safe), grad_n, ys, alpha=-1)
        grad_n = grad_n.transpose(1, 2)
        grad_ys = torch.baddbmm(
            ys * (torch.bmm(grad_q.transpose(1, 2), x_norm) / y_safe),
            grad_n,
            xs,
            alpha=-1)
        grads = [
            _cast(
                g.new_zeros(rows,
                            g.shape[-1]).index_add_(0, flat,
                                                    g.view(-1, g.shape[-1])),
                dtype)
            for g, (rows, dtype) in zip((grad_xs, grad_ys), ctx.tables)
        ]
        return grads[0], grads[1], None, None


def row_cosine_distances(x: torch.Tensor,
                         y: torch.Tensor,
                         rows: torch.Tensor,
                         eps: float = 0.01) -> torch.Tensor:
    """``1 - cos_eps(x[rows[g, i]], y[rows[g, j]])`` for every group ``g``
    of rows: one batched product and an analytic backward instead of a
    dozen autograd nodes.

    Args:
        x, y: ``[N, H]``.
        rows: ``[G, T]`` long, on the device of ``x``.
        eps: added to the cosine denominator.

    Returns:
        ``[G, T, T]`` in :func:`working_dtype`.
    """
    return _RowCosineDistances.apply(x, y, rows, eps)


def _check(dists: torch.Tensor, lbda: float, name: str) -> None:
    if dists.dim() < 2 or dists.shape[-1] == 0 or dists.shape[-2] == 0:
        raise ValueError(f'{name} expects distances [..., L, M] with L, M '
                         f'>= 1, got shape {list(dists.shape)}')
    if not lbda > 0:
        raise ValueError(f'{name}: lbda must be > 0, got {lbda}')


class _Direction(NamedTuple):
    """One recursion over the grids of an index: the plan, the position in
    the ``[L * M]`` grid of each of its cells (``[cells]``, or ``[cells,
    k]`` for ``k`` directions of one plan batched together) and the cells
    that are zero-cost padding."""
    plan: WavefrontPlan
    positions: np.ndarray
    padding: np.ndarray


@functools.lru_cache(maxsize=None)
def _direction(rows: int,
               cols: int,
               metric: str,
               transposed: bool = False) -> _Direction:
    """The recursion of ``metric`` over ``rows x cols`` grids (or their
    transposes): DTW; or one direction of OTAM, with a zero-cost trailing
    padding column (the leading one is the plan's zero column) and up
    moves in the first real column and the padding column."""
    length, width = (cols, rows) if transposed else (rows, cols)
    if metric == 'dtw':
        plan = wavefront_plan(length, width)
        row, col = np.divmod(plan.flat_order, width)
        padding = plan.flat_order[:0]
    else:
        plan = wavefront_plan(length, width + 1, (0, width), True)
        row, col = np.divmod(plan.flat_order, width + 1)
        padding = np.flatnonzero(col == width)
        col[padding] = 0  # a real cell, overwritten with the padding
    positions = col * cols + row if transposed else row * cols + col
    return _Direction(plan, positions, padding)


@functools.lru_cache(maxsize=None)
def _recursions(rows: int, cols: int, metric: str) -> Tuple[_Direction, ...]:
    """What :func:`gathered_alignment_cost` runs: DTW, or both directions
    of OTAM, as one batch when the grid is square."""
    if metric == 'dtw':
        return (_direction(rows, cols, metric), )
    both = _direction(rows, cols, metric), _direction(rows, cols, metric, True)
    if rows != cols:
        return both
    return (both[0]._replace(
        positions=np.stack([d.positions for d in both], 1)), )


def _run(source: torch.Tensor, grids: np.ndarray, recursion: _Direction,
         lbda: float) -> torch.Tensor:
    """``[B]`` final costs of ``recursion`` over ``grids [L * M, B]``
    (positions in ``source``, already in the working dtype), summed over
    the directions it batches."""
    plan, positions, padding = recursion
    layout = grids.take(positions, 0)
    layout[padding] = source.shape[0]
    groups = 1 if positions.ndim == 1 else positions.shape[1]
    return SoftMinWavefront.apply(
        source, layout.reshape(plan.num_cells, grids.shape[1] * groups), plan,
        lbda, groups)


def gathered_alignment_cost(source: torch.Tensor,
                            index: np.ndarray,
                            metric: str,
                            lbda: float = 0.1) -> torch.Tensor:
    """Training alignment cost of the ``[L, M]`` distance grids
    ``source[index[:, :, b]]``: soft DTW for ``'dtw'``, for ``'otam'`` soft
    OTAM of the grid plus soft OTAM of its transpose.

    Args:
        source: ``[N]`` distances.
        index: ``[L, M, B]`` int64 numpy array (the batch last, as the
            recursion lays its cells out) of positions in ``source``.
        metric: ``'dtw'`` or ``'otam'``.
        lbda: soft-min temperature.

    Returns:
        ``[B]`` in :func:`working_dtype`.
    """
    if metric not in ALIGNMENT_METRICS:
        raise ValueError(f'unknown alignment metric {metric!r}; expected '
                         f'one of {ALIGNMENT_METRICS}')
    if not lbda > 0:
        raise ValueError(f'lbda must be > 0, got {lbda}')
    rows, cols, batch = index.shape
    source = _cast(source, working_dtype(source.dtype))
    grids = index.reshape(rows * cols, batch)
    costs = [
        _run(source, grids, recursion, lbda)
        for recursion in _recursions(rows, cols, metric)
    ]
    return costs[0] if len(costs) == 1 else costs[0] + costs[1]


def _own_grids(dists: torch.Tensor) -> np.ndarray:
    """``[L * M, B]``: where the cells of the matrices of ``dists [..., L,
    M]`` are in ``dists.reshape(-1)``."""
    size = dists.shape[-2] * dists.shape[-1]
    return np.arange(size)[:, None] + size * np.arange(dists.numel() // size)


def _one_direction(dists: torch.Tensor, metric: str,
                   lbda: float) -> torch.Tensor:
    """``[..., L, M]`` -> ``[...]``: DTW or one direction of OTAM."""
    rows, cols = dists.shape[-2:]
    grids = _own_grids(dists)
    source = dists.reshape(-1)
    cost = _run(
        _cast(source, working_dtype(source.dtype)), grids,
        _direction(rows, cols, metric), lbda)
    return cost.view(dists.shape[:-2])


def soft_dtw(dists: torch.Tensor, lbda: float = 0.1) -> torch.Tensor:
    """Soft-min DTW cost of aligning the rows of each matrix with its
    columns (official ``DTW_cum_dist``).

    Row 0 and column 0 accumulate by plain sums; every other cell adds its
    distance to the soft minimum of its diagonal, left and upper neighbours.

    Args:
        dists: ``[B, N, L, M]`` (any leading dims) pairwise distances.
        lbda: soft-min temperature.

    Returns:
        ``[B, N]``, the cumulative cost at ``(L - 1, M - 1)``, in
        ``promote_types(dists.dtype, float32)``.
    """
    _check(dists, lbda, 'soft_dtw')
    return _one_direction(dists, 'dtw', lbda)


def soft_otam(dists: torch.Tensor, lbda: float = 0.1) -> torch.Tensor:
    """Soft-min OTAM cost, one direction (official ``OTAM_cum_dist``).

    The distances are padded with one zero column on each side, so the
    alignment may start late and end early in the columns. Row 0
    accumulates by sums; the other rows have ``C[l, 0] = 0``, take the
    soft minimum of the diagonal and left neighbours in the middle
    columns, and also of the upper neighbour in the first real column and
    the last (padding) column.

    Args:
        dists: ``[B, N, L, M]`` (any leading dims) pairwise distances.
        lbda: soft-min temperature.

    Returns:
        ``[B, N]``, the cumulative cost at ``(L - 1, M + 1)`` of the padded
        matrix, in ``promote_types(dists.dtype, float32)``.
    """
    _check(dists, lbda, 'soft_otam')
    return _one_direction(dists, 'otam', lbda)


def soft_alignment_cost(dists: torch.Tensor,
                        metric: str,
                        lbda: float = 0.1) -> torch.Tensor:
    """The training alignment cost of the official tasks: ``soft_dtw`` for
    ``'dtw'``; for ``'otam'`` the sum of both directions, ``soft_otam(d) +
    soft_otam(d^T)``.

    Args:
        dists: ``[..., L, M]``.
        metric: ``'dtw'`` or ``'otam'``.
        lbda: soft-min temperature.

    Returns:
        ``[...]``.
    """
    _check(dists, lbda, 'soft_alignment_cost')
    index = _own_grids(dists).reshape(dists.shape[-2], dists.shape[-1], -1)
    return gathered_alignment_cost(dists.reshape(-1), index, metric,
                                   lbda).view(dists.shape[:-2])
