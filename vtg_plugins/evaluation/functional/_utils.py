"""Input checking shared by the functional metrics (no numerics here)."""
from typing import Any, Iterable, List, Optional, Sequence

import numpy as np

ON_INVALID = ('raise', 'miss')


class EvaluationError(ValueError):
    """Bad prediction or annotation input, with the record that caused it."""


def check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ON_INVALID:
        raise ValueError(f'on_invalid must be one of {ON_INVALID}, '
                         f'got {on_invalid!r}')


def as_windows(seq: Any, min_width: int, what: str) -> Optional[np.ndarray]:
    """Convert a list of windows to ``[N, W]`` float64 (``W >= min_width``).

    Returns ``None`` for an empty list and raises :class:`EvaluationError`
    (naming ``what``, e.g. ``"qid 7 pred_relevant_windows"``) for ragged,
    non-numeric or too narrow windows.
    """
    if not isinstance(seq, (list, tuple, np.ndarray)):
        raise EvaluationError(f'{what}: expected a list of windows, got '
                              f'{type(seq).__name__}')
    if len(seq) == 0:
        return None
    try:
        arr = np.asarray(seq, dtype=np.float64)
    except (ValueError, TypeError) as e:
        widths = sorted({len(w) if hasattr(w, '__len__') else 0 for w in seq})
        raise EvaluationError(
            f'{what}: windows must all have the same number of elements '
            f'(got lengths {widths}): {e}') from None
    if arr.ndim != 2 or arr.shape[1] < min_width:
        raise EvaluationError(
            f'{what}: expected windows with at least {min_width} elements '
            f'each, got an array of shape {arr.shape}')
    return arr


def check_unique(keys: Sequence, what: str) -> None:
    """Raise if ``keys`` holds a duplicate, naming the first one."""
    if len(set(keys)) != len(keys):
        seen = set()
        for k in keys:
            if k in seen:
                raise EvaluationError(f'{what}: duplicated id {k!r}')
            seen.add(k)


def check_same_ids(pred_ids: Iterable, gt_ids: Iterable, what: str) -> None:
    """Raise if the predicted and ground-truth id sets differ."""
    pred_ids, gt_ids = set(pred_ids), set(gt_ids)
    if pred_ids != gt_ids:
        missing = sorted(map(str, gt_ids - pred_ids))[:5]
        extra = sorted(map(str, pred_ids - gt_ids))[:5]
        raise EvaluationError(
            f'{what}: prediction and ground-truth ids differ '
            f'({len(gt_ids - pred_ids)} missing, e.g. {missing}; '
            f'{len(pred_ids - gt_ids)} unknown, e.g. {extra})')


def fmt2(x: float) -> float:
    """``float(f"{x:.2f}")`` as the official evaluators report."""
    return float(f'{x:.2f}')


def pad_stack(arrays: List[Optional[np.ndarray]],
              width: int,
              max_len: Optional[int] = None):
    """Stack ragged ``[n_i, >=width]`` arrays into ``[Q, N, width]``.

    Returns:
        tuple: (``[Q, N, width]`` float64 padded with NaN, ``[Q]`` counts).
    """
    counts = np.array([0 if a is None else len(a) for a in arrays],
                      dtype=np.int64)
    if max_len is not None:
        counts = np.minimum(counts, max_len)
    n = int(counts.max()) if len(counts) else 0
    out = np.full((len(arrays), max(n, 1), width), np.nan)
    for i, a in enumerate(arrays):
        if counts[i]:
            out[i, :counts[i]] = a[:counts[i], :width]
    return out, counts


def masked_row_reduce(values: np.ndarray,
                      mask: np.ndarray,
                      op=np.mean) -> np.ndarray:
    """``op(values[i][mask[i]])`` for every row, bit-identical to the loop.

    numpy's pairwise summation depends on the number of summed elements, so
    a masked sum over the padded row would differ in the last bits from the
    official per-row ``np.mean``/``np.sum``. Rows are therefore left-aligned
    (keeping their order) and reduced in groups of equal count.

    Args:
        values (np.ndarray): ``[R, N]`` float64.
        mask (np.ndarray): ``[R, N]`` bool, the elements to reduce.
        op: ``np.mean`` or ``np.sum`` (called with ``axis=1``).

    Returns:
        np.ndarray: ``[R]``; rows with an empty mask give ``op([])``
        (NaN for the mean, 0 for the sum).
    """
    counts = mask.sum(axis=1)
    order = np.argsort(~mask, axis=1, kind='stable')
    compact = np.take_along_axis(values, order, axis=1)
    out = np.empty(len(values))
    for c in np.unique(counts):
        rows = counts == c
        if c == 0:
            out[rows] = np.nan if op is np.mean else 0.0
        else:
            out[rows] = op(compact[rows, :c], axis=1)
    return out
