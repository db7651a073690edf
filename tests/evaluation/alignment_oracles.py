"""Loop oracles of the sequence-alignment and full-video retrieval metrics.

Slow and literal on purpose (test code only):

- ``*_by_paths``: the textbook definitions, by enumerating every alignment
  path of a small matrix;
- ``official_*``: the official evaluation procedure of full-video
  retrieval (MMPT-style ``FullVideoRetrievalMetric.compute_metrics`` with
  ``DTW_eval_cum_dist`` / ``OTAM_eval_cum_dist`` / ``DTW_pad`` /
  ``OTAM_pad``) re-written cell by cell and pair by pair: per-video clip
  lists by ``in``, blocks sliced first..last and scaled *in place* on the
  shared distance matrix, padding then zeroing ``[-d0 - 1:, -d1:]``,
  cumulative loops over (row, column) batched over pairs, ``np.argsort``
  recall with ``i in p[-k:]``;
- ``exact_full_video``: one pair at a time on the true sub-matrices with
  the correct recurrences.

The vectorized counterparts are in ``vtg_plugins.evaluation.functional``
(``sequence_alignment``, ``full_video_retrieval``).
"""
import numpy as np

INF = float('inf')

# --- definitions by path enumeration ---------------------------------------


def dtw_by_paths(d):
    """min over monotone paths (0,0) -> (L-1,M-1), steps right/down/diag,
    of the summed cells."""
    length, width = d.shape
    best = [INF]

    def walk(i, m, acc):
        acc += d[i, m]
        if (i, m) == (length - 1, width - 1):
            best[0] = min(best[0], acc)
            return
        for dl, dm in ((0, 1), (1, 0), (1, 1)):
            if i + dl < length and m + dm < width:
                walk(i + dl, m + dm, acc)

    walk(0, 0, 0.0)
    return best[0]


def otam_by_paths(d):
    """OTAM of ``d`` [L, M]: zero column each side, paths from (0, 0) to
    (L-1, M+1); right and diagonal moves anywhere, down moves only in the
    zero columns and the first real column (the recurrence's cells that
    allow ``cum[i-1, m]``)."""
    padded = np.pad(d, ((0, 0), (1, 1)))
    length, width = padded.shape
    down_ok = {0, 1, width - 1}
    best = [INF]

    def walk(i, m, acc):
        acc += padded[i, m]
        if (i, m) == (length - 1, width - 1):
            best[0] = min(best[0], acc)
            return
        moves = [(0, 1), (1, 1)] + ([(1, 0)] if m in down_ok else [])
        for dl, dm in moves:
            nl, nm = i + dl, m + dm
            if nl < length and nm < width:
                walk(nl, nm, acc)

    walk(0, 0, 0.0)
    return best[0]


# --- official cumulative matrices and padding, cell by cell ----------------


def official_dtw_cum(d):
    """Full DTW cumulative matrix of ``d`` [..., L, M] (loops over cells,
    batched over the leading dims)."""
    cum = np.zeros(d.shape)
    cum[..., 0, 0] = d[..., 0, 0]
    for m in range(1, d.shape[-1]):
        cum[..., 0, m] = d[..., 0, m] + cum[..., 0, m - 1]
    for i in range(1, d.shape[-2]):
        cum[..., i, 0] = d[..., i, 0] + cum[..., i - 1, 0]
    for i in range(1, d.shape[-2]):
        for m in range(1, d.shape[-1]):
            prev = np.minimum(
                np.minimum(cum[..., i - 1, m - 1], cum[..., i, m - 1]),
                cum[..., i - 1, m])
            cum[..., i, m] = d[..., i, m] + prev
    return cum


def official_otam_cum(d, minus_first=True):
    """Full OTAM cumulative matrix of a padded ``d`` [..., L, M]: column 0
    stays 0, top row a running sum; ``minus_first`` is the official sign
    of the first real column (``False``: the correct ``+``)."""
    cum = np.zeros(d.shape)
    sign = -1.0 if minus_first else 1.0
    for m in range(1, d.shape[-1]):
        cum[..., 0, m] = d[..., 0, m] + cum[..., 0, m - 1]
    for i in range(1, d.shape[-2]):
        first = np.minimum(
            np.minimum(cum[..., i - 1, 0], cum[..., i - 1, 1]), cum[..., i, 0])
        cum[..., i, 1] = d[..., i, 1] + sign * first
        for m in range(2, d.shape[-1] - 1):
            cum[..., i, m] = d[..., i, m] + np.minimum(cum[..., i - 1, m - 1],
                                                       cum[..., i, m - 1])
        last = np.minimum(
            np.minimum(cum[..., i - 1, -2], cum[..., i - 1, -1]), cum[..., i,
                                                                      -2])
        cum[..., i, -1] = d[..., i, -1] + last
    return cum


def official_pad(block, target0, target1, zero_sides):
    """One [l0, l1] block padded as the official pad functions: optional
    zero column each side, ``inf`` up to the target, then zeros in the
    last ``d0 + 1`` rows and the last ``d1`` columns, where a ``d1`` of 0
    means *all* columns (python's ``-0:``)."""
    l0, l1 = block.shape
    d0, d1 = target0 - l0, target1 - l1
    if zero_sides:
        block = np.concatenate([np.zeros(
            (l0, 1)), block, np.zeros((l0, 1))], 1)
    out = np.full((target0, block.shape[1] + d1), INF)
    out[:l0, :block.shape[1]] = block
    first_row = out.shape[0] - d0 - 1
    first_col = 0 if d1 == 0 else out.shape[1] - d1
    for r in range(first_row, out.shape[0]):
        for c in range(first_col, out.shape[1]):
            out[r, c] = 0.0
    return out


def official_recall(mat, ks=(1, 5, 10), kind=None):
    """``np.argsort`` per row; hit when the row index is in the last k."""
    predictions = np.argsort(mat, 1, kind=kind)
    gts = np.arange(len(mat))
    return [
        float(np.mean([g in p for g, p in zip(gts, predictions[:, -k:])]))
        for k in ks
    ]


# --- full-video retrieval ---------------------------------------------------


def _video_lists(clip_ids, substring):
    # the official takes list(set(ids)); insertion order only changes ties
    videos = list(dict.fromkeys(clip_ids))
    if substring:
        inds = [[i for i, x in enumerate(clip_ids) if v in x] for v in videos]
    else:
        inds = [[i for i, x in enumerate(clip_ids) if v == x] for v in videos]
    return videos, inds


def _caption_average(m, inds):
    per_clip = np.stack([np.max(m[:, v], axis=1) for v in inds], 1)
    return np.stack([np.mean(per_clip[v, :], axis=0) for v in inds], 0)


def official_full_video(m, clip_ids):
    """Official procedure: returns (videos, caption [V,V], dtw [V,V],
    otam [V,V], recalls dict)."""
    videos, inds = _video_lists(clip_ids, isinstance(clip_ids[0], str))
    caption = _caption_average(m, inds)
    length = max(len(v) for v in inds)
    n = len(inds)
    dtw_in = np.zeros((n, n, length, length))
    otam_in = np.zeros((n, n, length, length + 2))
    otam_t_in = np.zeros((n, n, length, length + 2))
    for part in ('dtw', 'otam'):
        work = 1.0 - m  # each part starts from a fresh matrix
        for i in range(n):
            for j in range(n):
                a, b = inds[i][0], inds[i][-1] + 1
                c, e = inds[j][0], inds[j][-1] + 1
                assert (b - a, e - c) == (len(inds[i]), len(inds[j])), \
                    'the official .view() fails on non-contiguous clips'
                block = work[a:b, c:e]  # a view: scaled in place
                block *= (length * length) / (len(inds[i]) * len(inds[j]))
                if part == 'dtw':
                    dtw_in[i, j] = official_pad(block, length, length, False)
                else:
                    otam_in[i, j] = official_pad(block, length, length, True)
                    otam_t_in[i, j] = official_pad(block.T, length, length,
                                                   True)
    dtw = official_dtw_cum(dtw_in)[:, :, -1, -1]
    otam = official_otam_cum(otam_in)[:, :, -1, -1] + \
        official_otam_cum(otam_t_in)[:, :, -1, -1]
    return videos, caption, dtw, otam, _recalls(caption, dtw, otam, None)


def _recalls(caption, dtw, otam, kind):
    out = {}
    for prefix, mat in (('', caption), ('DTW-', -dtw), ('OTAM-', -otam)):
        for k, r in zip((1, 5, 10), official_recall(mat, kind=kind)):
            out[f'{prefix}R{k}'] = r
    return out


def correct_dtw(d):
    """DTW of one [L, M] matrix by the recurrence."""
    return official_dtw_cum(d)[-1, -1]


def correct_otam(d):
    """One-direction OTAM of one [L, M] matrix, zero column each side."""
    return official_otam_cum(
        np.pad(d, ((0, 0), (1, 1))), minus_first=False)[-1, -1]


def exact_full_video(m, clip_ids):
    """Exact protocol, pair by pair on the true sub-matrices."""
    videos, inds = _video_lists(clip_ids, substring=False)
    caption = _caption_average(m, inds)
    length = max(len(v) for v in inds)
    n = len(inds)
    dtw, otam = np.zeros((n, n)), np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            block = (1.0 - m)[np.ix_(inds[i], inds[j])]
            block = block * (length * length) / (len(inds[i]) * len(inds[j]))
            dtw[i, j] = correct_dtw(block)
            otam[i, j] = correct_otam(block) + correct_otam(block.T)
    return videos, caption, dtw, otam, _recalls(caption, dtw, otam, 'stable')
