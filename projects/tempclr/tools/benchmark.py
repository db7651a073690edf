"""TempCLR CPU benchmark: the temporal alignment loss and the full-video
DTW/OTAM retrieval metric, ours against straightforward loops, in one run.

Not a test. Two parts, each timed interleaved (``loop, ours, loop, ours``
over ``--rounds``; medians reported, load drift on a shared machine hits
both):

1. **Alignment loss**, forward + backward, for the official HowTo100M batch
   (16 videos x 16 clips, ``sampling_threshold`` 5, 32 candidates, hidden
   768; ``--size tiny``: 3 x 8, 4, 6, 16), ``dtw`` and ``otam``:
   ``vtg_tempclr.models.losses.TemporalAlignmentLoss`` against
   :func:`loop_alignment_loss`, the official procedure written out (per
   video selection, one ``index_select`` per negative order, a Python loop
   over the cells of the cumulative matrix). Both get the same candidate
   orders. Timed in float32; values and gradients are compared in float64
   (they must agree to 1e-10).
2. **Full-video retrieval** on a YouCook2-sized set (3,350 clips in 457
   videos of 3..14 clips; tiny: 120 in 20): ``vtg_plugins``'
   ``full_video_retrieval(scores, clip_video_ids, protocol='official')``
   against :func:`loop_full_video_retrieval`, the official
   ``FullVideoRetrievalMetric`` procedure (every pair sliced, scaled in
   place, padded to ``L x L``, cumulated by Python loops over cells, in
   float32 like the official code); the nine metric values must be equal.

Prints a summary and, on the last line, one JSON object; the exit status is
1 when values disagree.

Usage::

    python projects/tempclr/tools/benchmark.py [--size full|tiny] \
        [--rounds 3] [--threads 2]
"""
import argparse
import itertools
import json
import random
import statistics
import sys
import time
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

SIZES = dict(
    full=dict(
        videos=16,
        clips=16,
        threshold=5,
        candidates=32,
        hidden=768,
        eval_clips=3350,
        eval_videos=457),
    tiny=dict(
        videos=3,
        clips=8,
        threshold=4,
        candidates=6,
        hidden=16,
        eval_clips=120,
        eval_videos=20))
LBDA, EPS = 0.1, 0.01
MIN_CLIPS, MAX_CLIPS = 3, 14
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


def _loss_inputs(cfg: dict, dtype: torch.dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = cfg['videos'] * cfg['clips']
    video = torch.randn(n, cfg['hidden'], generator=g, dtype=dtype)
    text = 0.5 * video + torch.randn(
        n, cfg['hidden'], generator=g, dtype=dtype)
    bounds = []
    for _ in ('text', 'video'):
        steps = torch.randint(1, 5, (cfg['videos'], cfg['clips']), generator=g)
        steps[-1, 1:] = 0  # the last video's clips overlap: it is left out
        start = steps.cumsum(1).flatten()
        bounds += [start, start + torch.randint(0, 4, (n, ), generator=g)]
    rng = random.Random(seed)
    lists = []
    for _ in range(cfg['videos']):
        orders = list(itertools.permutations(range(cfg['threshold'])))
        rng.shuffle(orders)
        lists.append(orders)
    return video, text, bounds, lists


def _replay(lists: List) -> Callable:
    """A permutation source that hands out ``lists`` in order."""
    it = iter(lists)
    return lambda num_units: next(it)


def _loss_step(fn, video, text):
    """Forward + backward; returns the loss and the input gradients."""
    video = video.detach().requires_grad_()
    text = text.detach().requires_grad_()
    loss = fn(video, text)
    loss.backward()
    return loss.detach(), video.grad, text.grad


def _loss_runners(cfg: dict, metric: str, bounds, lists) -> Dict:
    from vtg_tempclr.models.losses import TemporalAlignmentLoss

    def ours(video, text):
        loss_fn = TemporalAlignmentLoss(
            metric,
            clip_per_video=cfg['clips'],
            sampling_threshold=cfg['threshold'],
            total_sample_size=cfg['candidates'],
            lbda=LBDA,
            eps=EPS,
            permutation_source=_replay(lists))
        return loss_fn(video, text, *bounds)

    def loop(video, text):
        return loop_alignment_loss(video, text, bounds, metric, cfg,
                                   _replay(lists))

    return dict(loop=loop, ours=ours)


def _interleaved(runners: Dict[str, Callable],
                 rounds: int,
                 warmup: bool = True) -> Dict:
    """Median wall time of each runner over ``rounds`` interleaved calls,
    after one untimed warm-up call each (``warmup``)."""
    for run in runners.values() if warmup else ():
        run()
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {
        name:
        dict(
            median_s=statistics.median(ts), times_s=[round(t, 4) for t in ts])
        for name, ts in times.items()
    }


def _kept_rows(cfg: dict, bounds) -> List[List[int]]:
    from vtg_tempclr.models.losses import TemporalAlignmentLoss
    return TemporalAlignmentLoss(
        clip_per_video=cfg['clips'],
        sampling_threshold=cfg['threshold'],
        total_sample_size=cfg['candidates']).selected_rows(*bounds)


def bench_alignment_loss(cfg: dict, rounds: int) -> Dict:
    report = {}
    for metric in ('dtw', 'otam'):
        check = _loss_inputs(cfg, torch.float64)
        runners = _loss_runners(cfg, metric, check[2], check[3])
        results = {k: _loss_step(f, *check[:2]) for k, f in runners.items()}
        diffs = {
            name: float((a - b).abs().max())
            for name, a, b in zip((
                'loss', 'grad_pooled_video',
                'grad_pooled_text'), results['loop'], results['ours'])
        }
        timed = _loss_inputs(cfg, torch.float32)
        runners = _loss_runners(cfg, metric, timed[2], timed[3])
        steps = {
            k: (lambda f=f: _loss_step(f, *timed[:2]))
            for k, f in runners.items()
        }
        entry = _interleaved(steps, rounds)
        entry.update(
            kept_videos=len(_kept_rows(cfg, check[2])),
            loss_float64=float(results['ours'][0]),
            max_abs_diff_float64=diffs,
            agree=max(diffs.values()) <= 1e-10,
            speedup=entry['loop']['median_s'] / entry['ours']['median_s'])
        report[metric] = entry
    return report


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


def _retrieval_inputs(cfg: dict, seed: int = 0):
    """Float32 ``[N, N]`` raw dot-product scores and clip video ids of
    ``eval_videos`` videos (3..14 clips, ``eval_clips`` in all)."""
    rng = np.random.default_rng(seed)
    n_vids, n_clips = cfg['eval_videos'], cfg['eval_clips']
    lens = np.full(n_vids, MIN_CLIPS)
    while lens.sum() < n_clips:
        v = rng.integers(n_vids)
        lens[v] += lens[v] < MAX_CLIPS
    ids = [f'video{v:04d}' for v, n in enumerate(lens) for _ in range(n)]
    video = rng.standard_normal((n_clips, 32)).astype(np.float32)
    text = video + 3.0 * rng.standard_normal(video.shape).astype(np.float32)
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return text @ video.T, ids, int(lens.max())


def bench_full_video_retrieval(cfg: dict, rounds: int) -> Dict:
    try:
        from vtg_plugins.evaluation.functional.full_video_retrieval import \
            full_video_retrieval
    except ImportError as e:
        return dict(available=False, error=str(e))
    scores, ids, longest = _retrieval_inputs(cfg)
    ours = dict(full_video_retrieval(scores, ids, protocol='official'))
    loop = loop_full_video_retrieval(scores, ids)
    entry = _interleaved(
        dict(
            loop=lambda: loop_full_video_retrieval(scores, ids),
            ours=lambda: full_video_retrieval(scores, ids, 'official')),
        rounds,
        warmup=False)  # the calls that gave the values warmed both up
    entry.update(
        available=True,
        clips=len(ids),
        videos=len(set(ids)),
        max_clips_per_video=longest,
        metrics_ours=ours,
        metrics_loop=loop,
        equal=ours == loop,
        speedup=entry['loop']['median_s'] / entry['ours']['median_s'])
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', choices=sorted(SIZES), default='full')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SIZES[args.size]
    report = dict(
        size=args.size, rounds=args.rounds, threads=args.threads, batch=cfg)
    report['alignment_loss'] = bench_alignment_loss(cfg, args.rounds)
    report['full_video_retrieval'] = bench_full_video_retrieval(
        cfg, args.rounds)
    ok = all(e['agree'] for e in report['alignment_loss'].values())
    for metric, e in report['alignment_loss'].items():
        print(f"alignment loss {metric}: loop {e['loop']['median_s']:.4f} s, "
              f"ours {e['ours']['median_s']:.4f} s, loop / ours "
              f"{e['speedup']:.1f}; float64 max abs diff "
              f"{e['max_abs_diff_float64']}")
    retrieval = report['full_video_retrieval']
    if retrieval['available']:
        ok = ok and retrieval['equal']
        print(f"full-video retrieval ({retrieval['clips']} clips, "
              f"{retrieval['videos']} videos): loop "
              f"{retrieval['loop']['median_s']:.2f} s, ours "
              f"{retrieval['ours']['median_s']:.2f} s, loop / ours "
              f"{retrieval['speedup']:.1f}; metrics equal: "
              f"{retrieval['equal']}")
    else:
        print(f"full-video retrieval unavailable: {retrieval['error']}")
    print(json.dumps(report))
    if not ok:
        sys.exit(1)


if __name__ == '__main__':
    main()
