"""The straightforward loops that ``benchmark.py`` times ours against: the
official procedures written out, cell by cell.

- :func:`loop_alignment_loss`: TempCLR's ``temporal_alignment`` (per-video
  selection, one ``index_select`` per negative order, the soft-min DTW /
  OTAM recursions as Python loops over cells).
- :func:`loop_full_video_retrieval`: the official
  ``FullVideoRetrievalMetric.compute_metrics`` (every pair sliced, scaled
  in place, padded, hard-min recursions as loops over cells, in float32).
"""
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

LBDA, EPS = 0.1, 0.01
RECALL_NAMES = [f'{p}R{k}' for p in ('', 'DTW-', 'OTAM-') for k in (1, 5, 10)]

# ------------------------------------------------------------ alignment loss


def _loop_cumulative(dists: torch.Tensor, metric: str) -> torch.Tensor:
    """Soft-min DTW / one-direction OTAM of ``[B, N, L, M]``, cell by cell
    over the whole batch (the official loops); returns ``[B, N]``."""

    def softmin(*cells):
        terms = torch.stack([-c / LBDA for c in cells], dim=-1)
        return -LBDA * torch.logsumexp(terms, dim=-1)

    if metric == 'otam':
        dists = F.pad(dists, (1, 1))
    rows, cols = dists.shape[-2:]
    cum = torch.zeros(dists.shape, dtype=dists.dtype)
    if metric == 'dtw':
        cum[..., 0, 0] = dists[..., 0, 0]
        for m in range(1, cols):
            cum[..., 0, m] = dists[..., 0, m] + cum[..., 0, m - 1]
        for r in range(1, rows):
            cum[..., r, 0] = dists[..., r, 0] + cum[..., r - 1, 0]
        for r in range(1, rows):
            for m in range(1, cols):
                cum[..., r, m] = dists[..., r, m] + softmin(
                    cum[..., r - 1, m - 1], cum[..., r, m - 1], cum[..., r - 1,
                                                                    m])
        return cum[..., -1, -1]
    for m in range(1, cols):
        cum[..., 0, m] = dists[..., 0, m] + cum[..., 0, m - 1]
    for r in range(1, rows):
        for m in range(1, cols):
            near = [cum[..., r - 1, m - 1], cum[..., r, m - 1]]
            if m in (1, cols - 1):
                near.append(cum[..., r - 1, m])
            cum[..., r, m] = dists[..., r, m] + softmin(*near)
    return cum[..., -1, -1]


def loop_alignment_loss(pooled_video, pooled_text, bounds, metric: str,
                        cfg: dict, orders: Callable) -> torch.Tensor:
    """The official ``temporal_alignment``, written out with loops.

    ``bounds``: ``(text_start, text_end, video_start, video_end)`` ``[N]``;
    ``orders(T)``: candidate orders in trial order, once per kept video.
    """
    per, threshold = cfg['clips'], cfg['threshold']
    keys = []
    for v in range(len(pooled_video) // per):
        ts, te, vs, ve = (b[v * per:(v + 1) * per] for b in bounds)
        kept, text_end, video_end = [], -1, -1
        for i in range(per):
            if ts[i] > text_end and vs[i] > video_end:
                kept.append(i)
                text_end, video_end = te[i], ve[i]
        if len(kept) < threshold:
            continue
        picks = [int(f) for f in np.linspace(0, len(kept) - 1, threshold)]
        rows = torch.tensor([v * per + kept[p] for p in picks])
        text = torch.index_select(pooled_text, 0, rows)
        video = torch.index_select(pooled_video, 0, rows)
        norms = text.norm(dim=-1)[:, None] @ video.norm(dim=-1)[None, :]
        dist = 1 - (text @ video.t()) / (norms + EPS)
        identity = tuple(range(threshold))
        candidates = [dist]
        for order in orders(threshold):
            if tuple(order) != identity:
                candidates.append(
                    torch.index_select(dist, 0, torch.tensor(order)))
            if len(candidates) == cfg['candidates']:
                break
        keys.append(torch.stack(candidates))
    # [1, V * S, clips, sentences], as the official rearrange
    keys = torch.stack(keys).flatten(0, 1).transpose(-1, -2)[None]
    if metric == 'dtw':
        costs = _loop_cumulative(keys, 'dtw')
    else:
        costs = _loop_cumulative(keys, 'otam') + _loop_cumulative(
            keys.transpose(-1, -2), 'otam')
    size = cfg['candidates']
    loss = sum(
        F.cross_entropy(-costs[:, i * size:(i + 1) *
                               size], torch.zeros(1, dtype=torch.long))
        for i in range(costs.shape[1] // size))
    return loss / (costs.shape[1] // size)


# ---------------------------------------------------- full-video retrieval


def _official_recall(mat: np.ndarray) -> List[float]:
    order = np.argsort(mat, 1)
    gts = np.arange(len(mat))
    return [
        float(np.mean([g in p for g, p in zip(gts, order[:, -k:])]))
        for k in (1, 5, 10)
    ]


def _loop_eval_cumulative(dists: torch.Tensor, otam: bool) -> torch.Tensor:
    """The official hard-min evaluation recursions (OTAM's first real
    column subtracts the minimum), cell by cell, into a float32 matrix."""
    rows, cols = dists.shape[-2:]
    cum = torch.zeros(dists.shape)
    mn = torch.minimum
    if not otam:
        cum[..., 0, 0] = dists[..., 0, 0]
    for m in range(1, cols):
        cum[..., 0, m] = dists[..., 0, m] + cum[..., 0, m - 1]
    if not otam:
        for r in range(1, rows):
            cum[..., r, 0] = dists[..., r, 0] + cum[..., r - 1, 0]
    for r in range(1, rows):
        for m in range(1, cols):
            diag, left, up = (cum[..., r - 1,
                                  m - 1], cum[..., r, m - 1], cum[..., r - 1,
                                                                  m])
            if not otam:
                cum[..., r, m] = dists[..., r, m] + mn(mn(diag, left), up)
            elif m == 1:
                cum[..., r, m] = dists[..., r, m] - mn(mn(diag, up), left)
            elif m == cols - 1:
                cum[..., r, m] = dists[..., r, m] + mn(mn(diag, up), left)
            else:
                cum[..., r, m] = dists[..., r, m] + mn(diag, left)
    return cum[..., -1, -1]


def _official_pad(d: torch.Tensor, length: int, otam: bool) -> torch.Tensor:
    if otam:
        d = F.pad(d, (1, 1))
        width = length + 2
    else:
        width = length
    rows_short, cols_short = length - d.shape[-2], width - d.shape[-1]
    d = F.pad(d, (0, cols_short, 0, rows_short), value=float('inf'))
    d[..., -rows_short - 1:, -cols_short:] = 0
    return d


def loop_full_video_retrieval(scores: np.ndarray,
                              clip_ids: Sequence[str]) -> Dict[str, float]:
    """The official ``FullVideoRetrievalMetric.compute_metrics``, written
    out (videos in order of first appearance instead of ``set`` order)."""
    videos = list(dict.fromkeys(clip_ids))
    inds = [[i for i, c in enumerate(clip_ids) if v in c] for v in videos]
    best = np.stack([np.max(scores[:, g], axis=1) for g in inds], 1)
    caption = np.stack([np.mean(best[g, :], axis=0) for g in inds], 0)
    metrics = dict(zip(RECALL_NAMES[:3], _official_recall(caption)))
    length = max(len(g) for g in inds)
    for name in ('DTW', 'OTAM'):
        otam = name == 'OTAM'
        dist = torch.tensor(1 - scores)
        rows, rows_t = [], []
        for gi in inds:
            row, row_t = [], []
            for gj in inds:
                block = dist[gi[0]:gi[-1] + 1,
                             gj[0]:gj[-1] + 1].view(1, 1, len(gi),
                                                    len(gj)).detach()
                block *= (length * length) / (len(gi) * len(gj))
                row.append(_official_pad(block, length, otam))
                if otam:
                    row_t.append(
                        _official_pad(block.transpose(-2, -1), length, otam))
            rows.append(torch.cat(row, dim=1))
            if otam:
                rows_t.append(torch.cat(row_t, dim=1))
        cost = _loop_eval_cumulative(torch.cat(rows), otam)
        if otam:
            cost = cost + _loop_eval_cumulative(torch.cat(rows_t), otam)
        metrics.update(
            zip(RECALL_NAMES[3:6] if name == 'DTW' else RECALL_NAMES[6:],
                _official_recall(-cost.numpy())))
    return metrics
