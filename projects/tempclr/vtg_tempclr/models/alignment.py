"""Soft-min sequence alignment (DTW and OTAM) for TempCLR's training losses.

Both recursions follow the official training functions (``DTW_cum_dist``,
``OTAM_cum_dist`` of ``tempclr/utils/metrics.py``) cell for cell, with the
soft minimum ``softmin_lbda(a, b, ...) = -lbda * logsumexp(-[a, b, ...] /
lbda)``; only the final cell of the cumulative matrix is returned.

Instead of a Python loop over cells, the cumulative matrix is filled one
anti-diagonal at a time (cells ``(l, m)`` with ``l + m = d`` depend only on
diagonals ``d - 1`` and ``d - 2``), for the whole batch at once: ``L + M -
1`` steps of batched tensor operations, differentiable by autograd, on any
device. The recursion is carried on ``-C / lbda`` (one ``logsumexp`` per
step, no re-scaling); it agrees with the official loops to ~1e-15 in
float64.

Precision: the recursion runs in ``promote_types(dtype, float32)``, so
float16/bfloat16 distances are aligned in float32 (with ``lbda = 0.1`` the
exponents ``cost / lbda`` and the accumulated costs lose all precision in
half precision), float64 stays float64. The result has that working dtype.
"""
import torch
import torch.nn.functional as F

#: the metrics :func:`soft_alignment_cost` knows
ALIGNMENT_METRICS = ('dtw', 'otam')


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


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _by_anti_diagonal(x: torch.Tensor) -> torch.Tensor:
    """Re-index a matrix by anti-diagonal: ``out[d, ..., l] = x[..., l, d -
    l]`` where ``0 <= d - l < W``, else 0.

    Done without gathering: append ``L`` zero columns, flatten the rows and
    re-read them with row length ``W + L - 1``, which shifts row ``l`` right
    by ``l``.

    Args:
        x: ``[..., L, W]``.

    Returns:
        ``[L + W - 1, ..., L]``.
    """
    rows, width = x.shape[-2:]
    padded = torch.cat([x, x.new_zeros(x.shape[:-1] + (rows, ))], dim=-1)
    num_diagonals = rows + width - 1
    skewed = padded.flatten(-2)[..., :rows * num_diagonals]
    return skewed.unflatten(-1, (rows, num_diagonals)).movedim(-1, 0)


def _soft_min_recursion(costs: torch.Tensor, allowed: torch.Tensor,
                        lbda: float) -> torch.Tensor:
    """Final cell of ``C[l, m] = costs[l, m] + softmin(neighbours)``, where
    the neighbours of a cell are those of ``C[l-1, m-1]`` (diagonal),
    ``C[l, m-1]`` (left), ``C[l-1, m]`` (up) that ``allowed`` admits there,
    and ``C[0, 0] = costs[0, 0]``. A soft minimum over one neighbour is an
    exact sum, which gives the first row and column their plain sums.

    The recursion runs on ``S = -C / lbda`` (``S = -costs / lbda +
    logsumexp(S_neighbours)``), one anti-diagonal per step. Each diagonal is
    stored with a leading filler so that the cell one row up is a slice;
    excluded neighbours enter as ``-inf`` (their gradient weight is 0), and
    cells off the matrix hold finite filler, so no nan reaches the
    gradient.

    Args:
        costs: ``[..., L, W]`` local costs, in the working dtype.
        allowed: ``[3, L, W]`` bool, per cell: may it take its diagonal,
            left, up neighbour (False where that neighbour is off the
            matrix).
        lbda: soft-min temperature.

    Returns:
        ``[...]``, ``C[L-1, W-1]``.
    """
    rows = costs.shape[-2]
    scaled = _by_anti_diagonal(-costs / lbda).unbind(0)  # D x [..., L]
    excluded = torch.zeros(
        allowed.shape, dtype=costs.dtype, device=costs.device)
    excluded = excluded.masked_fill(~allowed, float('-inf'))
    # off the matrix nothing is excluded: the filler stays finite
    excluded = _by_anti_diagonal(excluded)  # [D, 3, L]
    # broadcast over the leading dims of costs: [D, 3, 1, ..., 1, L]
    excluded = excluded.view(excluded.shape[:2] + (1, ) * (costs.dim() - 2) +
                             excluded.shape[-1:])
    last = F.pad(scaled[0], (1, 0))  # [..., 1 + L]: filler, rows 0..L-1
    before_last = torch.zeros_like(last)
    for d in range(1, len(scaled)):
        # stacked first: logsumexp over dim 0 is the fast reduction on CPU
        neighbours = torch.stack(
            [before_last[..., :-1], last[..., 1:], last[..., :-1]])
        current = scaled[d] + torch.logsumexp(neighbours + excluded[d], 0)
        before_last, last = last, F.pad(current, (1, 0))
    return -lbda * last[..., rows]


def _neighbour_masks(rows: int, width: int,
                     device: torch.device) -> torch.Tensor:
    """``[3, L, W]``: where the diagonal, left and up neighbours exist."""
    row = torch.arange(rows, device=device)[:, None].expand(rows, width)
    col = torch.arange(width, device=device)[None, :].expand(rows, width)
    return torch.stack([(row >= 1) & (col >= 1), col >= 1, row >= 1])


def _check(dists: torch.Tensor, lbda: float, name: str) -> None:
    if dists.dim() < 2 or dists.shape[-1] == 0 or dists.shape[-2] == 0:
        raise ValueError(f'{name} expects distances [..., L, M] with L, M '
                         f'>= 1, got shape {list(dists.shape)}')
    if not lbda > 0:
        raise ValueError(f'{name}: lbda must be > 0, got {lbda}')


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
    costs = dists.to(_working_dtype(dists.dtype))
    allowed = _neighbour_masks(*costs.shape[-2:], costs.device)
    return _soft_min_recursion(costs, allowed, lbda)


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
    costs = F.pad(dists.to(_working_dtype(dists.dtype)), (1, 1))
    rows, width = costs.shape[-2:]
    allowed = _neighbour_masks(rows, width, costs.device)
    # up moves: down the padding column 0 (a chain of zeros), in the first
    # real column and in the last (padding) column
    col = torch.arange(width, device=costs.device)
    allowed[2] &= (col <= 1) | (col == width - 1)
    return _soft_min_recursion(costs, allowed, lbda)


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
    if metric == 'dtw':
        return soft_dtw(dists, lbda)
    if metric == 'otam':
        return soft_otam(dists, lbda) + soft_otam(
            dists.transpose(-1, -2), lbda)
    raise ValueError(f'unknown alignment metric {metric!r}; expected one of '
                     f'{ALIGNMENT_METRICS}')
