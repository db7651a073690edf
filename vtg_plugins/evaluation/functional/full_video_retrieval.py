"""Full-video retrieval: a video's captions, as a whole, retrieve the video
from its clips (MMPT-style ``FullVideoRetrievalMetric``, YouCook2).

Input: the clip-level score matrix ``scores[t, c]`` (caption of clip ``t``
against clip ``c``; the official predictor takes raw dot products
``text @ video.T``) and the video id of every clip. Row ``t`` and column
``t`` are the same clip, so the matrix is square. Three rankings of the
videos, each scored by R@1/5/10:

- **caption average** (``R1``..): for caption ``t`` and video ``v`` the best
  of its clips, ``max_c scores[t, c]``, then the mean over the captions of
  the query video;
- **DTW** (``DTW-R1``..): the distances ``1 - scores`` between the captions
  of video ``i`` (rows) and the clips of video ``j`` (columns), scaled by
  ``L^2 / (l_i * l_j)`` (``L`` the largest number of clips of a video),
  aligned by hard-min DTW; lower is better;
- **OTAM** (``OTAM-R1``..): the same matrices aligned by OTAM in both
  directions (``D`` and ``D^T``, summed).

Ranks follow the official ``recall``: ``argsort`` of each row, a hit when
the query's own video is among the last ``k``.

``protocol`` (data in :data:`FULL_VIDEO_PROTOCOLS`):

- ``'exact'`` (default): clips belong to the video whose id equals theirs;
  each video's clips are an index list (in input order, need not be
  contiguous); DTW/OTAM run on each pair's true ``l_i x l_j`` matrix (OTAM
  with its zero column on each side, ``+ min`` everywhere); ties go to the
  later video (stable sort).
- ``'official'``: the official procedure, quirks included: with string ids
  a clip belongs to every video whose id is a *substring* of its id
  (``'a1'`` takes the clips of ``'a10'``); each video's clips are sliced
  ``first..last`` (non-contiguous clips, on which the official code
  crashes, are refused); the scaling is done in place on the shared matrix,
  so blocks that overlap (substring ids) are scaled more than once; every
  matrix is padded to ``L x L`` by the official pad functions, which zero
  the query video's whole last caption row when the candidate video has
  ``L`` clips; OTAM's first real column subtracts the minimum; numpy's
  default ``argsort`` decides ties.

The official code takes the videos in ``set`` order (string hashing), we in
order of first appearance; that changes ties only. It computes in float32,
we in float64.
"""
from collections import OrderedDict
from typing import Any, Hashable, List, NamedTuple, Sequence, Tuple

import numpy as np

from ._utils import PRED, EvaluationError
from .sequence_alignment import (dtw_distance, official_dtw_distance,
                                 official_dtw_pad, official_otam_distance,
                                 official_otam_pad, otam_distance)

FULL_VIDEO_PROTOCOLS = ('exact', 'official')
RECALL_KS = (1, 5, 10)
#: distance matrices built at once (a chunk of video pairs)
PAIR_CHUNK_ELEMENTS = 1 << 22


class FullVideoScores(NamedTuple):
    """The three video-by-video matrices of :func:`full_video_scores`
    (row: the query video's captions, column: a candidate video)."""
    videos: List[Hashable]  # ids, in row/column order
    groups: List[np.ndarray]  # clip indices of each video
    caption: np.ndarray  # [V, V] caption-average score (higher is better)
    dtw: np.ndarray  # [V, V] DTW distance (lower is better)
    otam: np.ndarray  # [V, V] OTAM distance, both directions


def check_clip_scores(scores: Any, clip_video_ids: Sequence) -> np.ndarray:
    """``scores`` as a finite float64 ``[N, N]`` array whose size matches
    ``clip_video_ids`` (raises :class:`EvaluationError` naming the
    problem)."""
    try:
        m = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise EvaluationError(
            f'full video retrieval: scores are not a '
            f'numeric matrix ({e})', PRED) from None
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise EvaluationError(
            f'full video retrieval: scores must be a square [N, N] matrix '
            f'(caption of clip t x clip c, the same N clips on both axes), '
            f'got shape {m.shape}', PRED)
    if len(clip_video_ids) != m.shape[0]:
        raise EvaluationError(
            f'full video retrieval: {len(clip_video_ids)} clip video ids '
            f'for {m.shape[0]} score rows; every clip needs one id', PRED)
    if m.shape[0] == 0:
        raise EvaluationError('full video retrieval: no clips to evaluate',
                              PRED)
    bad = np.argwhere(~np.isfinite(m))
    if len(bad):
        t, c = bad[0]
        raise EvaluationError(
            f'full video retrieval: {len(bad)} NaN/inf score(s), the first '
            f'at caption {t} x clip {c} ({m[t, c]})', PRED)
    return m


def _substring_groups(videos: List, exact: List[np.ndarray]) -> List:
    """Clips of every video ``u`` under ``u in clip_id`` (string ids)."""
    groups = []
    for u in videos:
        hits = [g for w, g in zip(videos, exact) if u in w]
        groups.append(np.sort(np.concatenate(hits)))
    return groups


def video_groups(clip_video_ids: Sequence,
                 protocol: str = 'exact') -> Tuple[List, List[np.ndarray]]:
    """The videos (first-appearance order) and the clip indices of each.

    ``'official'`` with string ids uses substring membership and requires
    every video's clips to be contiguous (the official slicing).
    """
    if protocol not in FULL_VIDEO_PROTOCOLS:
        raise ValueError(f'full video retrieval protocol must be one of '
                         f'{FULL_VIDEO_PROTOCOLS}, got {protocol!r}')
    index = {}
    try:
        for i, v in enumerate(clip_video_ids):
            index.setdefault(v, []).append(i)
    except TypeError:
        raise EvaluationError(
            f'full video retrieval: clip video id {v!r} (clip {i}) is not '
            f'hashable', PRED) from None
    videos = list(index)
    groups = [np.asarray(g, dtype=np.int64) for g in index.values()]
    if len(videos) < 2:
        raise EvaluationError(
            f'full video retrieval: {len(videos)} video(s) '
            f'({videos[:1]}); ranking needs at least 2', PRED)
    if protocol == 'official':
        if all(isinstance(v, str) for v in videos):
            groups = _substring_groups(videos, groups)
        for v, g in zip(videos, groups):
            if g[-1] - g[0] + 1 != len(g):
                raise EvaluationError(
                    f'full video retrieval (protocol official): the clips '
                    f'of video {v!r} are not contiguous (indices '
                    f'{g[:8].tolist()}...); the official code slices '
                    f'first..last and fails on them. Order the clips by '
                    f"video or use protocol='exact'", PRED)
    return videos, groups


def _caption_average(m: np.ndarray, groups: List[np.ndarray]) -> np.ndarray:
    best = np.stack([np.max(m[:, g], axis=1) for g in groups], 1)
    return np.stack([np.mean(best[g, :], axis=0) for g in groups], 0)


def _padded_index(groups: List[np.ndarray], length: int) -> np.ndarray:
    idx = np.zeros((len(groups), length), dtype=np.int64)
    for v, g in enumerate(groups):
        idx[v, :len(g)] = g
    return idx


def _blocks(dist, idx, lens, scale, pi, pj) -> np.ndarray:
    """``[P, Li, Lj]`` scaled distance blocks of pairs ``(pi, pj)`` (the
    part beyond each pair's lengths is filler)."""
    li, lj = int(lens[pi].max()), int(lens[pj].max())
    rows = idx[pi, :li][:, :, None]
    cols = idx[pj, :lj][:, None, :]
    return dist[rows, cols] * scale[pi, pj][:, None, None]


def _pair_chunks(order: np.ndarray, n_vids: int, per_pair: int):
    step = max(1, PAIR_CHUNK_ELEMENTS // per_pair)
    for s in range(0, len(order), step):
        p = order[s:s + step]
        yield p, p // n_vids, p % n_vids


def _exact_alignment(dist, groups, lens, scale):
    """``[V, V]`` DTW and two-direction OTAM on each pair's true block;
    pairs sorted by their sizes so that a chunk's padding stays small."""
    n = len(groups)
    idx = _padded_index(groups, int(lens.max()))
    pairs = np.arange(n * n)
    order = pairs[np.lexsort((lens[pairs % n], lens[pairs // n]))]
    dtw, otam = np.empty(n * n), np.empty(n * n)
    for p, pi, pj in _pair_chunks(order, n, int(lens.max())**2):
        d = _blocks(dist, idx, lens, scale, pi, pj)
        li, lj = lens[pi], lens[pj]
        dtw[p] = dtw_distance(d, li, lj)
        otam[p] = otam_distance(d, li, lj) + otam_distance(
            d.transpose(0, 2, 1), lj, li)
    return dtw.reshape(n, n), otam.reshape(n, n)


def _in_place_blocks(dist, groups, lens, scale) -> dict:
    """``{i * V + j: block}`` of the pairs that share cells with another
    pair (videos whose clip ranges overlap), scaled in the official
    in-place loop order."""
    starts = np.array([g[0] for g in groups])
    ends = starts + lens
    overlaps = (starts[:, None] < ends[None, :]) & \
        (starts[None, :] < ends[:, None])
    shared = overlaps.sum(1) > 1
    if not shared.any():
        return {}
    work, out = dist.copy(), {}
    for i in range(len(groups)):
        for j in range(len(groups)):
            if shared[i] or shared[j]:
                block = work[starts[i]:ends[i], starts[j]:ends[j]]
                block *= scale[i, j]
                out[i * len(groups) + j] = block.copy()
    return out


def _official_alignment(dist, groups, lens, scale):
    """``[V, V]`` DTW and OTAM of the official procedure: blocks padded to
    ``L x L`` by the official pad functions, the official recurrences."""
    n, length = len(groups), int(lens.max())
    idx = _padded_index(groups, length)
    shared = _in_place_blocks(dist, groups, lens, scale)
    dtw, otam = np.empty(n * n), np.empty(n * n)
    per_pair = length * (length + 2) * 3  # the padded copies
    for p, pi, pj in _pair_chunks(np.arange(n * n), n, per_pair):
        d = _blocks(dist, idx, lens, scale, pi, pj)
        for b in np.flatnonzero(np.isin(p, list(shared))):
            i, j = divmod(int(p[b]), n)
            d[b, :lens[i], :lens[j]] = shared[p[b]]
        li, lj = lens[pi], lens[pj]
        dtw[p] = official_dtw_distance(
            official_dtw_pad(d, length, length, li, lj))
        otam[p] = official_otam_distance(
            official_otam_pad(d, length, length, li, lj)) + \
            official_otam_distance(official_otam_pad(
                d.transpose(0, 2, 1), length, length, lj, li))
    return dtw.reshape(n, n), otam.reshape(n, n)


def full_video_scores(scores: Any,
                      clip_video_ids: Sequence,
                      protocol: str = 'exact') -> FullVideoScores:
    """Caption-average scores and DTW / OTAM distances between all videos.

    Args:
        scores: ``[N, N]`` clip scores, caption ``t`` x clip ``c``.
        clip_video_ids (Sequence): ``[N]`` video id of each clip.
        protocol (str): ``'exact'`` or ``'official'`` (module docstring).

    Returns:
        FullVideoScores: ``[V, V]`` matrices, videos in order of first
        appearance.
    """
    m = check_clip_scores(scores, clip_video_ids)
    videos, groups = video_groups(clip_video_ids, protocol)
    lens = np.array([len(g) for g in groups], dtype=np.int64)
    length = float(lens.max())
    scale = (length * length) / (lens[:, None] * lens[None, :])
    align = _official_alignment if protocol == 'official' \
        else _exact_alignment
    dtw, otam = align(1.0 - m, groups, lens, scale)
    return FullVideoScores(videos, groups, _caption_average(m, groups), dtw,
                           otam)


def recall_at_k(mat: np.ndarray,
                ks: Sequence[int] = RECALL_KS,
                stable: bool = False) -> List[float]:
    """The official ``recall``: row ``q``'s target is column ``q``; a hit at
    ``k`` when it is among the last ``k`` of ``argsort(mat[q])`` (higher is
    better). ``stable`` uses a stable sort (ties: the later column ranks
    higher); otherwise numpy's default sort, as the official code."""
    pred = np.argsort(mat, axis=1, kind='stable' if stable else None)
    n = mat.shape[1]
    pos = np.argmax(pred == np.arange(len(mat))[:, None], axis=1)
    return [float(np.mean(pos >= n - k)) for k in ks]


def full_video_retrieval(scores: Any,
                         clip_video_ids: Sequence,
                         protocol: str = 'exact') -> 'OrderedDict':
    """Full-video R@1/5/10 by caption average, DTW and OTAM.

    Args:
        scores: ``[N, N]`` clip scores (caption ``t`` x clip ``c``; raw dot
            products in the official predictor).
        clip_video_ids (Sequence): ``[N]`` video id of each clip.
        protocol (str): ``'exact'`` (default) or ``'official'``.

    Returns:
        OrderedDict: ``R1 R5 R10 DTW-R1 DTW-R5 DTW-R10 OTAM-R1 OTAM-R5
        OTAM-R10`` as fractions.
    """
    res = full_video_scores(scores, clip_video_ids, protocol)
    stable = protocol == 'exact'
    out = OrderedDict()
    for prefix, mat in (('', res.caption), ('DTW-', -res.dtw), ('OTAM-',
                                                                -res.otam)):
        for k, r in zip(RECALL_KS, recall_at_k(mat, RECALL_KS, stable)):
            out[f'{prefix}R{k}'] = r
    return out
