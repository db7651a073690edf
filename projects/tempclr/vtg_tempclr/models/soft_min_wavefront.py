"""The soft-min cumulative-cost recursion of DTW and OTAM, one anti-diagonal
at a time, as an autograd Function with an analytic backward.

On a grid of ``L x W`` local costs ``c``, ``C[l, m] = c[l, m] +
softmin_lbda(neighbours)``, where the neighbours are ``C[l-1, m-1]``
(diagonal), ``C[l, m-1]`` (left) and ``C[l-1, m]`` (up), each where it is on
the grid and (up only) where the grid allows it; ``C[0, 0] = c[0, 0]``.
With ``S = -C / lbda`` a step is ``S = -c / lbda + logsumexp(S_nb)``, and
the cells of an anti-diagonal depend only on the two before it, so a grid
takes ``L + W - 2`` batched steps.

Layout: the cells are numbered in anti-diagonal order (ascending diagonal,
then ascending row), and every tensor is ``[cells, B]``: the batch is the
fast axis, a diagonal is a slice of rows, and its neighbours are gathered
with one index (a trailing ``-inf`` row stands for a missing neighbour).

Backward: ``d C[L-1, W-1] / d c[p]`` is the expected alignment ``E[p] =
sum over successors q of E[q] * w(q, p)``, ``w(q, p)`` the soft-min weight
of ``p`` in ``q``'s step (kept from the forward), ``E = 1`` at the last
cell; it runs over the diagonals in reverse, and each neighbour slot of a
diagonal adds into a contiguous run of an earlier diagonal, so it needs no
scatter.

The arithmetic is written once over a small array namespace: numpy on the
CPU (about half the per-call overhead of torch, which dominates on these
small arrays), torch elsewhere.
"""
import functools
from typing import List, NamedTuple, Optional, Tuple

import numpy as np
import torch

#: neighbour slots of a step, in gather order
SLOTS = ('diagonal', 'left', 'up')


class _Run(NamedTuple):
    """Cells ``first .. first + length - 1`` of a step (diagonal-local
    positions) take neighbour ``slot`` from cells ``target ..`` (global)."""
    slot: int
    first: int
    length: int
    target: int


class _Step(NamedTuple):
    start: int  # first cell of the diagonal
    stop: int
    gather: np.ndarray  # [3 * (stop - start)], slot-major, into cells + sink
    runs: Tuple[_Run, ...]


class WavefrontPlan:
    """The anti-diagonal schedule of an ``L x W`` grid.

    Args:
        rows: ``L >= 1``.
        width: ``W >= 1``.
        up_columns: columns whose cells may take their up neighbour; None:
            all.

    Attributes:
        cell_rows, cell_cols: ``[L * W]`` int64, row and column of each cell
            in anti-diagonal order.
        num_cells: ``L * W``; the sink (missing neighbour) is cell
            ``num_cells``.
        steps: one per diagonal after the first.
    """

    def __init__(self,
                 rows: int,
                 width: int,
                 up_columns: Optional[Tuple[int, ...]] = None) -> None:
        cells = [(l, d - l) for d in range(rows + width - 1)
                 for l in range(max(0, d - width + 1), min(rows, d + 1))]
        self.rows, self.width = rows, width
        self.num_cells = len(cells)
        self.cell_rows = np.array([l for l, _ in cells], dtype=np.int64)
        self.cell_cols = np.array([m for _, m in cells], dtype=np.int64)
        index = {cell: i for i, cell in enumerate(cells)}
        allowed_up = set(range(width) if up_columns is None else up_columns)
        self.steps: List[_Step] = []
        start = 1
        for d in range(1, rows + width - 1):
            diagonal = cells[start:start + min(rows, d + 1) -
                             max(0, d - width + 1)]
            sources = [[
                index.get((l - 1, m - 1)),
                index.get((l, m - 1)),
                index.get((l - 1, m)) if m in allowed_up else None
            ] for l, m in diagonal]
            gather = [
                self.num_cells if nb[k] is None else nb[k]
                for k in range(len(SLOTS)) for nb in sources
            ]
            self.steps.append(
                _Step(start, start + len(diagonal),
                      np.array(gather, dtype=np.int64),
                      tuple(_runs([nb[k] for nb in sources], k)
                            for k in range(len(SLOTS)))))
            start += len(diagonal)
        self.steps = [
            s._replace(runs=tuple(r for runs in s.runs for r in runs))
            for s in self.steps
        ]

    @functools.lru_cache(maxsize=None)
    def gather_on(self, device: torch.device) -> Tuple[torch.Tensor, ...]:
        """The steps' gather indices as tensors on ``device``."""
        return tuple(
            torch.from_numpy(s.gather).to(device) for s in self.steps)


def _runs(sources: List[Optional[int]], slot: int) -> List[_Run]:
    """Maximal runs of consecutive cells whose ``slot`` neighbours are
    consecutive cells."""
    runs = []
    for i, src in enumerate(sources):
        if src is None:
            continue
        last = runs[-1] if runs else None
        if last and last.first + last.length == i and \
                last.target + last.length == src:
            runs[-1] = last._replace(length=last.length + 1)
        else:
            runs.append(_Run(slot, i, 1, src))
    return runs


@functools.lru_cache(maxsize=None)
def wavefront_plan(rows: int,
                   width: int,
                   up_columns: Optional[Tuple[int, ...]] = None
                   ) -> WavefrontPlan:
    """A cached :class:`WavefrontPlan`."""
    return WavefrontPlan(rows, width, up_columns)


class _NumpyArrays:
    """The few array operations the recursion needs, on numpy."""
    empty = staticmethod(lambda shape, like: np.empty(shape, like.dtype))
    zeros = staticmethod(lambda shape, like: np.zeros(shape, like.dtype))
    take = staticmethod(lambda x, index: x.take(index, 0))
    amax0 = staticmethod(lambda x: x.max(0))
    exp_ = staticmethod(lambda x: np.exp(x, out=x))
    log = staticmethod(np.log)


class _TorchArrays:
    """The same operations on torch tensors (any device)."""
    empty = staticmethod(lambda shape, like: like.new_empty(shape))
    zeros = staticmethod(lambda shape, like: like.new_zeros(shape))
    take = staticmethod(lambda x, index: x.index_select(0, index))
    amax0 = staticmethod(lambda x: x.amax(0))
    exp_ = staticmethod(lambda x: x.exp_())
    log = staticmethod(torch.log)


def _forward(xp, costs, plan: WavefrontPlan, gathers, lbda: float):
    """``S = -C / lbda`` of every cell (``[cells + 1, B]``, sink last) and,
    per step, the un-normalised soft-min weights ``[3, n, B]`` and their
    sums ``[n, B]``."""
    num_cells, batch = costs.shape
    scaled = xp.empty((num_cells + 1, batch), costs)
    scaled[:num_cells] = costs
    scaled[:num_cells] *= -1.0 / lbda
    scaled[num_cells] = float('-inf')
    weights = []
    for step, gather in zip(plan.steps, gathers):
        neighbours = xp.take(scaled, gather).reshape(3, -1, batch)
        top = xp.amax0(neighbours)
        neighbours -= top
        xp.exp_(neighbours)
        total = neighbours.sum(0)
        cells = scaled[step.start:step.stop]
        cells += top
        cells += xp.log(total)
        weights.append((neighbours, total))
    return scaled, weights


def _backward(xp, grad, plan: WavefrontPlan, weights):
    """``grad * E``: ``[cells, B]``."""
    expected = xp.zeros((plan.num_cells, ) + grad.shape, grad)
    expected[plan.num_cells - 1] = grad
    for step, (share, total) in zip(reversed(plan.steps), reversed(weights)):
        share *= expected[step.start:step.stop] / total
        for run in step.runs:
            expected[run.target:run.target + run.length] += share[
                run.slot, run.first:run.first + run.length]
    return expected


class SoftMinWavefront(torch.autograd.Function):
    """``C[L-1, W-1]`` of a batch of grids laid out by a plan.

    ``apply(costs, plan, lbda)``: ``costs`` ``[L * W, B]`` (cells in the
    plan's anti-diagonal order, a float dtype of at least float32) ->
    ``[B]``.
    """

    @staticmethod
    def forward(ctx, costs: torch.Tensor, plan: WavefrontPlan,
                lbda: float) -> torch.Tensor:
        if costs.device.type == 'cpu':
            xp, gathers = _NumpyArrays, [s.gather for s in plan.steps]
            array = costs.detach().numpy()
        else:
            xp, gathers = _TorchArrays, plan.gather_on(costs.device)
            array = costs.detach()
        scaled, weights = _forward(xp, array, plan, gathers, lbda)
        ctx.xp, ctx.plan, ctx.weights = xp, plan, weights
        final = scaled[plan.num_cells - 1] * -lbda
        return torch.from_numpy(final) if xp is _NumpyArrays else final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        if ctx.xp is _NumpyArrays:
            expected = _backward(ctx.xp,
                                 grad.contiguous().numpy(), ctx.plan,
                                 ctx.weights)
            return torch.from_numpy(expected), None, None
        return _backward(ctx.xp, grad, ctx.plan, ctx.weights), None, None
