"""Helpers shared by the alignment losses."""
from typing import List

import torch

from ..alignment import ALIGNMENT_METRICS, working_dtype


def linspace_positions(length: int, num: int) -> List[int]:
    """``num`` positions spread over ``range(length)``: ``int`` of
    ``np.linspace(0, length - 1, num)`` (the official sub-sampling), in
    plain Python (the same float64 products ``i * step`` and the exact
    endpoint, without numpy's per-call overhead)."""
    if num == 1:
        return [0]
    step = (length - 1) / (num - 1)
    return [int(i * step) for i in range(num - 1)] + [length - 1]


def zero_with_grad(*tensors: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero that depends on ``tensors`` (so every parameter that
    produced them still gets a (zero) gradient), in the losses' working
    dtype."""
    zero = sum(t.sum() for t in tensors) * 0
    return zero.to(working_dtype(zero.dtype))


def check_metric(metric: str, lbda: float, owner: str) -> None:
    """Refuse an unknown alignment metric or a non-positive ``lbda``."""
    if metric not in ALIGNMENT_METRICS:
        raise ValueError(f'{owner}: unknown metric {metric!r}; expected one '
                         f'of {ALIGNMENT_METRICS}')
    if not lbda > 0:
        raise ValueError(f'{owner}: lbda must be > 0, got {lbda}')
