"""Input checking shared by the functional metrics (no numerics here).

Every check raises :class:`EvaluationError` naming the record and what is
wrong; ``source`` tells which input it was (:data:`PRED` or :data:`GT`) so
a caller that read files (``tools/evaluate.py``) can name the file.
"""
from typing import Any, Callable, Iterable, List, Optional, Sequence

import numpy as np

ON_INVALID = ('raise', 'miss')
#: ``EvaluationError.source`` of a bad prediction / ground-truth input.
PRED, GT = 'prediction', 'ground truth'
#: The columns of a window, as named in error messages.
WINDOW_COLUMNS = ('start', 'end', 'score')
#: ``log`` argument of the whole-submission evaluators: one line each.
Log = Optional[Callable[[str], None]]


class EvaluationError(ValueError):
    """Bad prediction or annotation input, with the record that caused it.

    Args:
        message (str): names the record and what is wrong.
        source (str, optional): :data:`PRED`, :data:`GT` or ``None`` when
            the error involves both inputs.
    """

    def __init__(self, message: str, source: Optional[str] = None) -> None:
        super().__init__(message)
        self.source = source


def check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ON_INVALID:
        raise ValueError(f'on_invalid must be one of {ON_INVALID}, '
                         f'got {on_invalid!r}')


def type_name(x: Any) -> str:
    """The json name of ``x``'s type (``null`` for None)."""
    return 'null' if x is None else type(x).__name__


def as_windows(seq: Any,
               min_width: int,
               what: str,
               source: str = PRED) -> Optional[np.ndarray]:
    """Convert a list of windows to ``[N, W]`` float64 (``W >= min_width``).

    Returns ``None`` for an empty list and raises :class:`EvaluationError`
    (naming ``what``, e.g. ``"qid 7 pred_relevant_windows"``) for a value
    that is not a list, ragged, non-numeric or too narrow windows, and a
    NaN/inf among the ``min_width`` columns the metrics read (the columns
    after them are ignored, as by the official evaluators).
    """
    if not isinstance(seq, (list, tuple, np.ndarray)):
        raise EvaluationError(
            f'{what}: expected a list of windows, got {type_name(seq)}',
            source)
    if len(seq) == 0:
        return None
    try:
        arr = np.asarray(seq, dtype=np.float64)
    except (ValueError, TypeError) as e:
        widths = sorted({len(w) if hasattr(w, '__len__') else 0 for w in seq})
        raise EvaluationError(
            f'{what}: windows must all have the same number of elements '
            f'(got lengths {widths}): {e}', source) from None
    if arr.ndim != 2 or arr.shape[1] < min_width:
        raise EvaluationError(
            f'{what}: expected windows with at least {min_width} elements '
            f'each, got an array of shape {arr.shape}', source)
    bad = ~np.isfinite(arr[:, :min_width])
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise EvaluationError(
            f'{what}: window {i} {seq[i]!r} has a non-finite '
            f'{WINDOW_COLUMNS[j]} ({arr[i, j]}); NaN/inf cannot be scored',
            source)
    return arr


def as_scores(seq: Any, what: str, source: str = PRED) -> np.ndarray:
    """Per-clip scores (a list, an array or a tensor) as a finite ``[T]``
    float64 array.

    Raises :class:`EvaluationError` naming ``what`` for a value that is not
    a flat sequence of numbers or holds NaN/inf (an empty list is returned).
    """
    if seq is None or isinstance(seq, (str, bytes, dict)):
        raise EvaluationError(
            f'{what}: expected a list of numbers, got {type_name(seq)}',
            source)
    try:
        arr = np.asarray(seq, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise EvaluationError(f'{what}: expected a flat list of numbers '
                              f'({e})', source) from None
    if arr.ndim != 1:
        raise EvaluationError(
            f'{what}: expected a flat list of numbers, got shape '
            f'{arr.shape}', source)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise EvaluationError(
            f'{what}: {len(bad)} NaN/inf value(s), the first at index '
            f'{bad[0]} ({arr[bad[0]]})', source)
    return arr


def check_duration(d: dict, source: str = GT) -> Optional[float]:
    """``d['duration']`` (``None`` when absent), refused unless a finite
    number > 0."""
    if 'duration' not in d:
        return None
    dur = d['duration']
    if isinstance(dur, bool) or not isinstance(dur, (int, float)) \
            or not np.isfinite(dur) or dur <= 0:
        raise EvaluationError(
            f'qid {d.get("qid")!r}: duration must be a finite number of '
            f'seconds > 0, got {dur!r}', source)
    return float(dur)


def check_unique(keys: Sequence, what: str, source: Optional[str] = None
                 ) -> None:
    """Raise if ``keys`` holds a duplicate, naming the first one."""
    if len(set(keys)) != len(keys):
        seen = set()
        for k in keys:
            if k in seen:
                raise EvaluationError(f'{what}: duplicated id {k!r}', source)
            seen.add(k)


def _examples(ids: Iterable, n: int = 5) -> List:
    return sorted(ids, key=lambda k: (type(k).__name__, str(k)))[:n]


def check_same_ids(pred_ids: Iterable,
                   gt_ids: Iterable,
                   what: str,
                   allow_missing: bool = False) -> set:
    """Check the predicted ids against the ground-truth ids.

    An id only predicted always raises; ground-truth ids without a
    prediction raise unless ``allow_missing``. Ids that differ only in
    type (``"1"`` vs ``1``) are named as such.

    Returns:
        set: the ground-truth ids without a prediction.
    """
    pred_ids, gt_ids = set(pred_ids), set(gt_ids)
    missing, unknown = gt_ids - pred_ids, pred_ids - gt_ids
    as_text = {str(k): k for k in missing}
    typed = [(k, as_text[str(k)]) for k in _examples(unknown, len(unknown))
             if str(k) in as_text]
    if typed:
        p, g = typed[0]
        raise EvaluationError(
            f'{what}: prediction and ground-truth ids differ in type for '
            f'{len(typed)} id(s): e.g. the prediction has {p!r} '
            f'({type(p).__name__}), the ground truth {g!r} '
            f'({type(g).__name__})')
    if unknown:
        raise EvaluationError(
            f'{what}: prediction and ground-truth ids differ: '
            f'{len(unknown)} predicted id(s) are not in the ground truth, '
            f'e.g. {_examples(unknown)}', PRED)
    if missing and not allow_missing:
        raise EvaluationError(
            f'{what}: prediction and ground-truth ids differ: {len(missing)} '
            f'of {len(gt_ids)} ground-truth id(s) have no prediction, e.g. '
            f'{_examples(missing)} (allow_missing, `tools/evaluate.py '
            f'--allow-missing`, scores the predicted ones only)', PRED)
    return missing


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
