"""TempCLR CPU benchmark: the temporal alignment loss and the full-video
DTW/OTAM retrieval metric, ours against straightforward loops, in one run.

Not a test. Two parts, each timed interleaved (``loop, ours, loop, ours``
over ``--rounds``; medians reported, load drift on a shared machine hits
both):

1. **Alignment loss**, forward + backward, for the official HowTo100M batch
   (16 videos x 16 clips, ``sampling_threshold`` 5, 32 candidates, hidden
   768; ``--size tiny``: 3 x 8, 4, 6, 16), ``dtw`` and ``otam``:
   ``vtg_tempclr.models.losses.TemporalAlignmentLoss`` against
   :func:`loop_baselines.loop_alignment_loss`, the official procedure
   written out (per video selection, one ``index_select`` per negative
   order, a Python loop over the cells of the cumulative matrix). Both get
   the same candidate orders. Timed in float32; values and gradients are
   compared in float64 (they must agree to 1e-10). Each timed call follows
   one of the other side (as in training, where the loss follows the
   model: the caches hold little of its code and data, which costs ours up
   to 2x on a shared machine); ``--warm-calls K`` also times ``K``
   back-to-back calls per sample (reported per call as ``warm``).
2. **Full-video retrieval** on a YouCook2-sized set (3,350 clips in 457
   videos of 3..14 clips; tiny: 120 in 20): ``vtg_plugins``'
   ``full_video_retrieval(scores, clip_video_ids, protocol='official')``
   against :func:`loop_baselines.loop_full_video_retrieval`, the official
   ``FullVideoRetrievalMetric`` procedure (every pair sliced, scaled in
   place, padded to ``L x L``, cumulated by Python loops over cells, in
   float32 like the official code); the nine metric values must be equal.

Prints a summary and, on the last line, one JSON object; the exit status is
1 when values disagree.

Usage::

    python projects/tempclr/tools/benchmark.py [--size full|tiny] \
        [--rounds 3] [--threads 2] [--warm-calls 5]
"""
import argparse
import itertools
import json
import random
import statistics
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch
from loop_baselines import (EPS, LBDA, loop_alignment_loss,
                            loop_full_video_retrieval)

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
MIN_CLIPS, MAX_CLIPS = 3, 14

# ------------------------------------------------------------ alignment loss


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
                 warmup: bool = True,
                 calls: int = 1) -> Dict:
    """Median wall time of a call of each runner over ``rounds`` interleaved
    samples of ``calls`` back-to-back calls (the sample's time / ``calls``),
    after one untimed warm-up call each (``warmup``)."""
    for run in runners.values() if warmup else ():
        run()
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                run()
            times[name].append((time.perf_counter() - t0) / calls)
    return {
        name:
        dict(
            median_s=statistics.median(ts), times_s=[round(t, 6) for t in ts])
        for name, ts in times.items()
    }


def _kept_rows(cfg: dict, bounds) -> List[List[int]]:
    from vtg_tempclr.models.losses import TemporalAlignmentLoss
    return TemporalAlignmentLoss(
        clip_per_video=cfg['clips'],
        sampling_threshold=cfg['threshold'],
        total_sample_size=cfg['candidates']).selected_rows(*bounds)


def bench_alignment_loss(cfg: dict, rounds: int, warm_calls: int) -> Dict:
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
        if warm_calls:
            warm = _interleaved(steps, rounds, warmup=False, calls=warm_calls)
            entry['warm'] = dict(
                warm,
                calls=warm_calls,
                speedup=warm['loop']['median_s'] / warm['ours']['median_s'])
        entry.update(
            kept_videos=len(_kept_rows(cfg, check[2])),
            loss_float64=float(results['ours'][0]),
            max_abs_diff_float64=diffs,
            agree=max(diffs.values()) <= 1e-10,
            speedup=entry['loop']['median_s'] / entry['ours']['median_s'])
        report[metric] = entry
    return report


# ---------------------------------------------------- full-video retrieval


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
    parser.add_argument(
        '--warm-calls',
        type=int,
        default=5,
        help='also time this many back-to-back alignment-loss calls per '
        'sample (0: off)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SIZES[args.size]
    report = dict(
        size=args.size, rounds=args.rounds, threads=args.threads, batch=cfg)
    report['alignment_loss'] = bench_alignment_loss(cfg, args.rounds,
                                                    args.warm_calls)
    report['full_video_retrieval'] = bench_full_video_retrieval(
        cfg, args.rounds)
    ok = all(e['agree'] for e in report['alignment_loss'].values())
    for metric, e in report['alignment_loss'].items():
        warm = (f" (warm, {e['warm']['calls']} back-to-back calls: loop "
                f"{e['warm']['loop']['median_s']:.4f} s, ours "
                f"{e['warm']['ours']['median_s']:.4f} s, loop / ours "
                f"{e['warm']['speedup']:.1f})" if 'warm' in e else '')
        print(f"alignment loss {metric}: loop {e['loop']['median_s']:.4f} s, "
              f"ours {e['ours']['median_s']:.4f} s, loop / ours "
              f"{e['speedup']:.1f}{warm}; float64 max abs diff "
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
