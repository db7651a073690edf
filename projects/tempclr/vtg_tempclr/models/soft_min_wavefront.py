"""The soft-min cumulative-cost recursion of DTW and OTAM, one anti-diagonal
at a time, as an autograd Function with an analytic backward.

On a grid of ``L x W`` local costs ``c``, ``C[l, m] = c[l, m] +
softmin_lbda(neighbours)``, where the neighbours are ``C[l-1, m-1]``
(diagonal), ``C[l, m-1]`` (left) and ``C[l-1, m]`` (up), each where it is on
the grid and (up only) where the plan allows it; ``C[0, 0] = c[0, 0]``. A
plan may also put a column of zero cumulative costs left of the grid (OTAM's
leading padding column, whose cells are all 0). The cells of an
anti-diagonal depend only on the two before it, so a grid takes ``L + W -
2`` batched steps.

Two equivalent recursions, chosen per call:

- exponential domain (small problems, in float64): ``R = exp(-C / lbda)``,
  ``R[q] = exp(-c[q] / lbda) * sum(R[neighbours])``: a gather, a sum and a
  product per step. Backward: ``dC_last / dc[p] = R[p] R'[p] / R_last`` with
  the reverse sums ``R'[p] = sum over successors q of R'[q] exp(-c[q] /
  lbda)``.
- log domain (any size, in the costs' dtype): ``S = -C / lbda``, ``S[q] =
  -c[q] / lbda + logsumexp(S[neighbours])``, stabilised by the neighbours'
  maximum. Backward: the expected alignment ``E[p] = sum over successors q
  of E[q] w(q, p)``, ``w`` the soft-min weights kept from the forward.

Layout: the cells are numbered in anti-diagonal order (ascending diagonal,
then ascending row), and every array is ``[cells, B]``: the batch is the
fast axis, a diagonal is a slice of rows, and its neighbours are gathered
with one index; two extra rows stand for a missing neighbour and for the
zero column. Each neighbour slot of a diagonal reads contiguous runs of an
earlier diagonal, so the backward adds slices instead of scattering.

The arithmetic is written once over a small array namespace: numpy on the
CPU (about half the per-call overhead of torch, which is what arrays this
small cost), torch on other devices.
"""
import functools
import math
from typing import List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch.autograd.function import once_differentiable


class _Run(NamedTuple):
    """Cells ``first .. first + length - 1`` of a step (positions in its
    diagonal) take neighbour ``slot`` (0 diagonal, 1 left, 2 up) from the
    cells ``target ..`` (global numbers)."""
    slot: int
    first: int
    length: int
    target: int


class _Step(NamedTuple):
    start: int  # the diagonal's cells are start .. stop - 1
    stop: int
    gather: np.ndarray  # [3 * (stop - start)] neighbour rows, slot-major
    runs: Tuple[_Run, ...]


def _runs(sources: List[int], slot: int, num_cells: int) -> List[_Run]:
    """Maximal runs of consecutive cells whose ``slot`` neighbours are
    consecutive grid cells (rows ``>= num_cells`` are no cells)."""
    runs = []
    for i, source in enumerate(sources):
        if source >= num_cells:
            continue
        if runs and runs[-1].first + runs[-1].length == i and \
                runs[-1].target + runs[-1].length == source:
            runs[-1] = runs[-1]._replace(length=runs[-1].length + 1)
        else:
            runs.append(_Run(slot, i, 1, source))
    return runs


class WavefrontPlan:
    """The anti-diagonal schedule of an ``L x W`` grid.

    Args:
        rows: ``L >= 1``.
        width: ``W >= 1``.
        up_columns: the columns whose cells may take their up neighbour;
            None: all.
        zero_left: a column of zero cumulative costs left of column 0 (the
            diagonal and left neighbours of column 0's cells).

    Attributes:
        rows, width: ``L``, ``W``.
        num_cells: ``L * W``; row ``num_cells`` of the working arrays is the
            missing neighbour, row ``num_cells + 1`` the zero column.
        flat_order: ``[L * W]`` int64, ``row * W + col`` of each cell in
            anti-diagonal order.
        steps: one per diagonal after the first (whose one cell has no
            neighbour but, at most, the zero on its left).
        gathers: the steps' gather indices (numpy).
    """

    def __init__(self,
                 rows: int,
                 width: int,
                 up_columns: Optional[Tuple[int, ...]] = None,
                 zero_left: bool = False) -> None:
        cells = [(r, d - r) for d in range(rows + width - 1)
                 for r in range(max(0, d - width + 1), min(rows, d + 1))]
        self.rows, self.width, self.num_cells = rows, width, len(cells)
        self.flat_order = np.array([r * width + c for r, c in cells])
        missing, zero = self.num_cells, self.num_cells + 1
        number = {cell: i for i, cell in enumerate(cells)}
        if zero_left:
            number.update({(r, -1): zero for r in range(rows)})
        up_allowed = set(range(width) if up_columns is None else up_columns)
        self.steps: List[_Step] = []
        start = 1
        for d in range(1, rows + width - 1):
            diagonal = cells[start:start + min(rows, d + 1) -
                             max(0, d - width + 1)]
            sources = [
                [number.get((r - 1, c - 1), missing) for r, c in diagonal],
                [number.get((r, c - 1), missing) for r, c in diagonal],
                [
                    number.get(
                        (r - 1, c), missing) if c in up_allowed else missing
                    for r, c in diagonal
                ],
            ]
            runs = [
                run for slot, column in enumerate(sources)
                for run in _runs(column, slot, self.num_cells)
            ]
            self.steps.append(
                _Step(start, start + len(diagonal), np.array(sum(sources, [])),
                      tuple(runs)))
            start += len(diagonal)
        self.gathers = tuple(step.gather for step in self.steps)
        self._gathers_on = {}

    def gathers_on(self, device: torch.device) -> Tuple[torch.Tensor, ...]:
        """:attr:`gathers` as tensors on ``device`` (cached)."""
        if device not in self._gathers_on:
            self._gathers_on[device] = tuple(
                torch.from_numpy(gather).to(device) for gather in self.gathers)
        return self._gathers_on[device]


@functools.lru_cache(maxsize=None)
def wavefront_plan(rows: int,
                   width: int,
                   up_columns: Optional[Tuple[int, ...]] = None,
                   zero_left: bool = False) -> WavefrontPlan:
    """The :class:`WavefrontPlan` of these arguments (built once)."""
    return WavefrontPlan(rows, width, up_columns, zero_left)


class _NumpyArrays:
    """The operations of the recursions that numpy and torch spell
    differently, on numpy (for CPU tensors)."""
    full = staticmethod(
        lambda shape, value, like: np.full(shape, value, like.dtype))
    take = staticmethod(lambda x, index: x.take(index, 0))
    amax0 = staticmethod(lambda x: x.max(0))
    exp_ = staticmethod(lambda x: np.exp(x, out=x))
    log = staticmethod(np.log)
    float64 = staticmethod(lambda x: x.astype(np.float64))
    tile = staticmethod(np.tile)
    from_tensor = staticmethod(lambda t: t.detach().numpy())
    to_tensor = staticmethod(torch.from_numpy)
    index = staticmethod(lambda layout, device: layout)
    gathers = staticmethod(lambda plan, device: plan.gathers)

    @staticmethod
    def scatter_sum(index, values, size: int):
        """``out[n] = sum of values[index == n]``, ``n < size``."""
        return np.bincount(index.ravel(), values.ravel(), size)


class _TorchArrays:
    """The same operations on torch tensors (any device)."""
    full = staticmethod(lambda shape, value, like: like.new_full(shape, value))
    take = staticmethod(lambda x, index: x.index_select(0, index))
    amax0 = staticmethod(lambda x: x.amax(0))
    exp_ = staticmethod(lambda x: x.exp_())
    log = staticmethod(torch.log)
    float64 = staticmethod(lambda x: x.double())
    tile = staticmethod(lambda x, times: x.repeat(times))
    from_tensor = staticmethod(lambda t: t.detach())
    to_tensor = staticmethod(lambda t: t)
    index = staticmethod(
        lambda layout, device: torch.from_numpy(layout).to(device))
    gathers = staticmethod(lambda plan, device: plan.gathers_on(device))

    @staticmethod
    def scatter_sum(index, values, size: int):
        return values.new_zeros(size).index_add_(0, index.reshape(-1),
                                                 values.reshape(-1))


def _arrays_for(device: torch.device):
    """The array namespace of tensors on ``device``."""
    return _NumpyArrays if device.type == 'cpu' else _TorchArrays


def _log_forward(xp, costs, plan: WavefrontPlan, gathers):
    """The recursion on ``S`` (``costs``: ``-c / lbda`` of the cells,
    ``[cells, B]``). Returns ``S`` of the last cell ``[B]`` and, per step,
    the soft-min weights before normalisation ``[3, n, B]`` and their sums
    ``[n, B]``."""
    num_cells, batch = costs.shape
    scaled = xp.full((num_cells + 2, batch), 0.0, costs)
    scaled[:num_cells] = costs
    scaled[num_cells] = float('-inf')
    weights = []
    for step, gather in zip(plan.steps, gathers):
        neighbours = xp.take(scaled, gather).reshape(3, step.stop - step.start,
                                                     batch)
        top = xp.amax0(neighbours)
        neighbours -= top
        xp.exp_(neighbours)
        total = neighbours.sum(0)
        cells = scaled[step.start:step.stop]
        cells += top
        cells += xp.log(total)
        weights.append((neighbours, total))
    return scaled[num_cells - 1], weights


def _log_backward(xp, grad, plan: WavefrontPlan, weights):
    """``grad * E``, ``[cells, B]``, from :func:`_log_forward`'s weights."""
    expected = xp.full((plan.num_cells, ) + grad.shape, 0.0, grad)
    expected[plan.num_cells - 1] = grad
    for step, (share, total) in zip(reversed(plan.steps), reversed(weights)):
        # not in place: the weights serve every backward through the graph
        part = share * (expected[step.start:step.stop] / total)
        for slot, first, length, target in step.runs:
            expected[target:target + length] += part[slot,
                                                     first:first + length]
    return expected


def _exp_forward(xp, factors, plan: WavefrontPlan, gathers):
    """The recursion on ``R`` (``factors``: ``exp(-c / lbda)`` of the
    cells, ``[cells, B]``, float64). Returns ``R`` of every cell, ``[cells +
    2, B]`` (the missing neighbour's 0 and the zero column's 1 last)."""
    num_cells, batch = factors.shape
    paths = xp.full((num_cells + 2, batch), 1.0, factors)
    paths[num_cells] = 0.0
    paths[0] = factors[0]
    for step, gather in zip(plan.steps, gathers):
        cells = paths[step.start:step.stop]
        cells[:] = xp.take(paths, gather).reshape(3, len(cells), batch).sum(0)
        cells *= factors[step.start:step.stop]
    return paths


def _exp_backward(xp, grad, plan: WavefrontPlan, factors, paths):
    """``grad * E``, ``[cells, B]``: ``E = R * R' / R_last``."""
    num_cells = plan.num_cells
    reverse = xp.full((num_cells, ) + grad.shape, 0.0, factors)
    reverse[num_cells - 1] = 1.0
    for step in reversed(plan.steps):
        part = reverse[step.start:step.stop] * factors[step.start:step.stop]
        for _, first, length, target in step.runs:
            reverse[target:target + length] += part[first:first + length]
    reverse *= paths[:num_cells]
    reverse *= grad / paths[num_cells - 1]
    return reverse


#: the exponential domain is used while ``(L + W) * (max |c| / lbda +
#: log 3)`` stays below this: every ``R``, ``R'`` and product of the two is
#: then well inside float64's range (``exp(+-708)``), a path having fewer
#: than ``L + W`` cells and there being fewer than ``3 ** (L + W)`` paths
EXP_DOMAIN_LIMIT = 350.0


class SoftMinWavefront(torch.autograd.Function):
    """``C[L-1, W-1]`` of a batch of grids gathered from a flat tensor.

    ``apply(source, layout, plan, lbda, groups)``: ``source`` ``[N]`` local
    costs (a float dtype of at least float32); ``layout`` ``[L * W, groups *
    B]`` int64 numpy array, the position in ``source`` of each cell (in the
    plan's anti-diagonal order) of each grid, ``N`` for a zero cost. Returns
    ``[B]`` in the dtype of ``source``, each the sum of ``groups`` grids'
    costs (grid ``g * B + b`` adds to ``b``).

    The exponential domain (float64) is taken when
    :data:`EXP_DOMAIN_LIMIT` allows, the log domain (the dtype of
    ``source``) otherwise.
    """

    @staticmethod
    def forward(ctx, source: torch.Tensor, layout: np.ndarray,
                plan: WavefrontPlan, lbda: float, groups: int) -> torch.Tensor:
        ctx.xp = xp = _arrays_for(source.device)
        ctx.plan, ctx.size, ctx.groups = plan, source.shape[0], groups
        # -c / lbda, once per source value; position N is the zero cost
        values = xp.from_tensor(source)
        scaled = xp.full((ctx.size + 1, ), 0.0, values)
        scaled[:-1] = values
        scaled *= -1.0 / lbda
        reach = float(abs(scaled).max()) + math.log(3)
        ctx.exp_domain = (plan.rows + plan.width) * reach < EXP_DOMAIN_LIMIT
        ctx.layout = xp.index(layout, source.device)
        cells = ctx.layout.reshape(-1)
        gathers = xp.gathers(plan, source.device)
        if ctx.exp_domain:
            ctx.factors = xp.take(xp.exp_(xp.float64(scaled)),
                                  cells).reshape(layout.shape)
            ctx.paths = _exp_forward(xp, ctx.factors, plan, gathers)
            last = xp.log(ctx.paths[plan.num_cells - 1])
        else:
            last, ctx.weights = _log_forward(
                xp,
                xp.take(scaled, cells).reshape(layout.shape), plan, gathers)
        final = last.reshape(groups, len(last) // groups).sum(0) * -lbda
        return xp.to_tensor(final).to(source.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        xp = ctx.xp
        grads = xp.from_tensor(grad)
        if ctx.groups > 1:  # every grid of a group gets the group's grad
            grads = xp.tile(grads, ctx.groups)
        if ctx.exp_domain:
            expected = _exp_backward(xp, xp.float64(grads), ctx.plan,
                                     ctx.factors, ctx.paths)
        else:
            expected = _log_backward(xp, grads, ctx.plan, ctx.weights)
        sums = xp.scatter_sum(ctx.layout, expected, ctx.size + 1)
        grad_source = xp.to_tensor(sums[:ctx.size]).to(grad.dtype)
        return grad_source, None, None, None, None
