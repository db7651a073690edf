"""Hard-min DTW and OTAM cumulative distances over batches of distance
matrices (numpy), computed as an anti-diagonal wavefront.

Cell ``(l, m)`` of a cumulative matrix depends on ``(l, m-1)`` and
``(l-1, m)`` (the previous anti-diagonal) and ``(l-1, m-1)`` (the one
before), so one numpy step per anti-diagonal fills that diagonal of every
matrix of the batch: ``L + M - 1`` steps instead of ``L * M`` cell loops.
Batches are processed in chunks of bounded size.

Two flavours:

- the **correct** distances, :func:`dtw_distance` and :func:`otam_distance`,
  optionally on each matrix's true top-left ``rows x cols`` block (ragged
  batches). OTAM (Cao et al., CVPR 2020) adds a zero column on each side of
  the block, so a path may start and end on any row; it moves right or
  diagonally, and vertically only in the first real column and the last
  (zero) column.
- the **official** evaluation helpers of the full-video retrieval protocol
  (MMPT-style ``utils/metrics.py``: ``DTW_eval_cum_dist``,
  ``OTAM_eval_cum_dist``, ``DTW_pad``, ``OTAM_pad``), quirks included:
  :func:`official_dtw_cumulative` and :func:`official_otam_cumulative`
  return the full cumulative matrix; the OTAM one never reads the input's
  first column (its cumulative column 0 is 0) and *subtracts* the minimum in
  the first real column (``d - min(...)``) where the correct recurrence adds
  it. :func:`official_dtw_pad` / :func:`official_otam_pad` pad with ``inf``
  and zero the block ``[rows - 1:, cols:]`` so the path can run to the
  corner; when ``cols`` already equals the target width that slice starts at
  column 0 and zeroes the whole last real row and every padded row.

Everything is float64; ``inf`` is allowed (the official padding), NaN is not.
"""
from typing import NamedTuple, Optional, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._utils import EvaluationError

#: elements of one chunk of matrices (float64: 32 MiB)
CHUNK_ELEMENTS = 1 << 22


class _Rule(NamedTuple):
    """The recurrence run by :func:`_wavefront`."""
    otam: bool  # cumulative column 0 is 0; vertical moves only in column 1
    # and in each matrix's end column
    minus_first: bool  # column 1 (rows >= 1) subtracts the minimum


_DTW = _Rule(otam=False, minus_first=False)
_OTAM = _Rule(otam=True, minus_first=False)
_OTAM_OFFICIAL = _Rule(otam=True, minus_first=True)


def _wavefront(d: np.ndarray,
               rule: _Rule,
               end_rows: np.ndarray,
               end_cols: np.ndarray,
               full: Optional[np.ndarray] = None) -> np.ndarray:
    """Cumulative distance of every matrix at its cell
    ``(end_rows[b], end_cols[b])``.

    Args:
        d (np.ndarray): ``[B, L, M]`` float64 local distances.
        rule (_Rule): DTW or OTAM (correct or official).
        end_rows, end_cols (np.ndarray): ``[B]`` int, the cell to read; for
            OTAM ``end_cols`` is also the column that allows vertical moves.
        full (np.ndarray, optional): ``[B, L, M]`` filled with the whole
            cumulative matrix when given.

    Returns:
        np.ndarray: ``[B]`` float64.
    """
    n, length, width = d.shape
    flat = np.ascontiguousarray(d).reshape(n, length * width)
    # skewed view: diag[b, k, l] = d[b, l, k - l]; its addresses
    # k + l * (M - 1) stay in 0..L*M-1 (off-matrix (k, l) alias other cells
    # of the same matrix and are never read)
    diag = as_strided(
        flat,
        shape=(n, length + width - 1, length),
        strides=(flat.strides[0], flat.strides[1],
                 flat.strides[1] * (width - 1)),
        writeable=False)
    full_flat = None if full is None else full.reshape(n, length * width)
    # row r of a diagonal lives at column r + 1; column 0 is row -1. Three
    # buffers rotate; a step reads its two predecessors only at rows
    # [lo - 1, hi + 1] of theirs, so only those two borders are reset.
    prev2, prev1, cur = (np.full((n, length + 1), np.inf) for _ in range(3))
    out = np.empty(n)
    k_end = end_rows + end_cols
    order = np.argsort(k_end, kind='stable')
    bounds = np.searchsorted(k_end[order], np.arange(length + width))
    if rule.minus_first:
        subtract = end_cols != 1  # width 2: the end-column rule wins
    for k in range(length + width - 1):
        lo, hi = max(0, k - width + 1), min(length - 1, k)
        rows = np.arange(lo, hi + 1)
        cols = k - rows
        dk = diag[:, k, lo:hi + 1]
        if k == 0:
            val = np.zeros((n, 1)) if rule.otam else dk.copy()
        else:
            best = np.minimum(prev1[:, lo + 1:hi + 2], prev2[:, lo:hi + 1])
            up = prev1[:, lo:hi + 1]
            if rule.otam:
                up_ok = (cols == 1)[None, :] | (
                    cols[None, :] == end_cols[:, None])
                np.minimum(best, up, out=best, where=up_ok)
            else:
                np.minimum(best, up, out=best)
            val = dk + best
            if rule.minus_first and max(1, lo) <= k - 1 <= hi:
                i = k - 1 - lo  # cell (k - 1, 1)
                val[subtract, i] = dk[subtract, i] - best[subtract, i]
            if rule.otam and hi == k:
                val[:, -1] = 0.0  # cell (k, 0)
        cur[:, lo] = np.inf
        cur[:, lo + 1:hi + 2] = val
        if hi + 2 <= length:
            cur[:, hi + 2] = np.inf
        if full_flat is not None:
            full_flat[:, rows * width + cols] = val
        done = order[bounds[k]:bounds[k + 1]]
        if len(done):
            out[done] = val[done, end_rows[done] - lo]
        prev2, prev1, cur = prev1, cur, prev2
    return out


def _as_batch(dists, what: str) -> Tuple[np.ndarray, Tuple[int, ...]]:
    d = np.asarray(dists, dtype=np.float64)
    if d.ndim < 2 or d.shape[-1] < 1 or d.shape[-2] < 1:
        raise EvaluationError(f'{what}: expected [..., L, M] distance '
                              f'matrices with L, M >= 1, got {d.shape}')
    if np.isnan(d).any():
        raise EvaluationError(f'{what}: the distances hold NaN')
    lead = d.shape[:-2]
    return d.reshape((-1, ) + d.shape[-2:]), lead


def _lengths(value, default: int, lead, what: str) -> np.ndarray:
    if value is None:
        return np.full(int(np.prod(lead, dtype=np.int64)), default)
    arr = np.broadcast_to(np.asarray(value), lead).reshape(-1)
    if not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any() or \
            (arr > default).any():
        raise EvaluationError(f'{what}: lengths must be integers in '
                              f'1..{default}, got {np.unique(arr)[:5]}')
    return arr.astype(np.int64)


def _chunks(n: int, per_item: int):
    step = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def dtw_distance(dists, rows=None, cols=None) -> np.ndarray:
    """Hard-min DTW distance: the cheapest monotone path from the first to
    the last cell (moves right, down, diagonal), summing the cells it visits.

    Args:
        dists: ``[..., L, M]`` local distances.
        rows, cols: optional ``[...]`` true sizes; matrix ``b`` is then
            ``dists[b, :rows[b], :cols[b]]`` (the rest is ignored).

    Returns:
        np.ndarray: ``[...]`` float64.
    """
    d, lead = _as_batch(dists, 'dtw_distance')
    r = _lengths(rows, d.shape[1], lead, 'dtw_distance rows')
    c = _lengths(cols, d.shape[2], lead, 'dtw_distance cols')
    out = np.empty(len(d))
    for s in _chunks(len(d), d.shape[1] * d.shape[2]):
        out[s] = _wavefront(d[s], _DTW, r[s] - 1, c[s] - 1)
    return out.reshape(lead)


def otam_distance(dists, rows=None, cols=None) -> np.ndarray:
    """One-direction OTAM distance (query rows -> support columns), with a
    zero column on each side of every (true-size) matrix.

    Args:
        dists: ``[..., L, M]`` local distances (not padded).
        rows, cols: optional ``[...]`` true sizes, as in
            :func:`dtw_distance`.

    Returns:
        np.ndarray: ``[...]`` float64; the two-direction distance of a pair
        is ``otam_distance(D) + otam_distance(D^T)``.
    """
    d, lead = _as_batch(dists, 'otam_distance')
    r = _lengths(rows, d.shape[1], lead, 'otam_distance rows')
    c = _lengths(cols, d.shape[2], lead, 'otam_distance cols')
    length, width = d.shape[1:]
    inside = np.arange(width)[None, :] < c[:, None]  # [B, M]
    out = np.empty(len(d))
    for s in _chunks(len(d), length * (width + 2)):
        padded = np.zeros((s.stop - s.start, length, width + 2))
        padded[:, :, 1:-1] = np.where(inside[s, None, :], d[s], 0.0)
        out[s] = _wavefront(padded, _OTAM, r[s] - 1, c[s] + 1)
    return out.reshape(lead)


def _official_cumulative(dists, rule: _Rule, what: str) -> np.ndarray:
    d, lead = _as_batch(dists, what)
    length, width = d.shape[1:]
    full = np.empty_like(d)
    ends_r = np.full(len(d), length - 1)
    ends_c = np.full(len(d), width - 1)
    for s in _chunks(len(d), length * width):
        _wavefront(d[s], rule, ends_r[s], ends_c[s], full=full[s])
    return full.reshape(lead + (length, width))


def official_dtw_cumulative(dists) -> np.ndarray:
    """The official ``DTW_eval_cum_dist``: the full hard-min DTW cumulative
    matrix ``[..., L, M]`` (its last cell is :func:`dtw_distance`)."""
    return _official_cumulative(dists, _DTW, 'official_dtw_cumulative')


def official_otam_cumulative(dists) -> np.ndarray:
    """The official ``OTAM_eval_cum_dist`` on an (already padded)
    ``[..., L, M]`` input: the full cumulative matrix with column 0 left at
    0 (the input's column 0 is never read), the top row a running sum, and
    ``cum[l, 1] = d[l, 1] - min(cum[l-1, 0], cum[l-1, 1], cum[l, 0])`` for
    ``l >= 1`` (a minus where correct OTAM adds; equal while the cumulative
    values stay >= 0, i.e. for non-negative distances)."""
    return _official_cumulative(dists, _OTAM_OFFICIAL,
                                'official_otam_cumulative')


def official_dtw_distance(padded) -> np.ndarray:
    """``official_dtw_cumulative(padded)[..., -1, -1]`` without keeping the
    full matrices."""
    d, lead = _as_batch(padded, 'official_dtw_distance')
    return _official_last(d, _DTW).reshape(lead)


def official_otam_distance(padded) -> np.ndarray:
    """``official_otam_cumulative(padded)[..., -1, -1]`` without keeping
    the full matrices."""
    d, lead = _as_batch(padded, 'official_otam_distance')
    return _official_last(d, _OTAM_OFFICIAL).reshape(lead)


def _official_last(d: np.ndarray, rule: _Rule) -> np.ndarray:
    length, width = d.shape[1:]
    out = np.empty(len(d))
    for s in _chunks(len(d), length * width):
        n = s.stop - s.start
        out[s] = _wavefront(d[s], rule, np.full(n, length - 1),
                            np.full(n, width - 1))
    return out


def _official_pad(dists, length0: int, length1: int, rows, cols,
                  zero_sides: bool, what: str) -> np.ndarray:
    d, lead = _as_batch(dists, what)
    if length0 < d.shape[1] or length1 < d.shape[2]:
        raise EvaluationError(f'{what}: cannot pad {d.shape[1:]} matrices '
                              f'to a smaller {(length0, length1)}')
    r = _lengths(rows, d.shape[1], lead, f'{what} rows')[:, None, None]
    c = _lengths(cols, d.shape[2], lead, f'{what} cols')[:, None, None]
    off = int(zero_sides)
    n, l0, l1 = d.shape
    out = np.full((n, length0, length1 + 2 * off), np.inf)
    inside = (np.arange(l0)[None, :, None] < r) & \
        (np.arange(l1)[None, None, :] < c)
    out[:, :l0, off:off + l1] = np.where(inside, d, np.inf)
    if zero_sides:  # a zero column on each side of the block's rows
        b, i = np.nonzero(np.arange(length0)[None, :] < r[:, :, 0])
        out[b, i, 0] = 0.0
        out[b, i, c[b, 0, 0] + 1] = 0.0
    # the official ``[-(L0 - rows) - 1:, -(L1 - cols):]``; ``-0:`` is ``0:``
    first_col = np.where(c < length1, c + 2 * off, 0)
    zero = (np.arange(length0)[None, :, None] >= r - 1) & \
        (np.arange(out.shape[2])[None, None, :] >= first_col)
    np.copyto(out, 0.0, where=zero)
    return out.reshape(lead + out.shape[1:])


def official_dtw_pad(dists,
                     length0: int,
                     length1: int,
                     rows=None,
                     cols=None) -> np.ndarray:
    """The official ``DTW_pad``: ``[..., l0, l1]`` -> ``[..., length0,
    length1]``, ``inf`` outside the matrix, then zeros in rows
    ``rows - 1 ..`` from column ``cols`` on (from column 0 when
    ``cols == length1``).

    Args:
        dists: ``[..., l0, l1]`` distances.
        length0, length1 (int): target size.
        rows, cols: optional ``[...]`` true sizes (the top-left block of
            each matrix is padded; default the whole matrix).
    """
    return _official_pad(dists, length0, length1, rows, cols, False,
                         'official_dtw_pad')


def official_otam_pad(dists,
                      length0: int,
                      length1: int,
                      rows=None,
                      cols=None) -> np.ndarray:
    """The official ``OTAM_pad``: a zero column on each side of the
    ``rows x cols`` block, ``inf`` elsewhere up to ``[..., length0,
    length1 + 2]``, then the zeroing of :func:`official_dtw_pad` from column
    ``cols + 2`` (column 0 when ``cols == length1``)."""
    return _official_pad(dists, length0, length1, rows, cols, True,
                         'official_otam_pad')
