"""Random-read throughput of the feature-store backends.

Writes a scaled-down QVHighlights-shaped video store (the real R²-Tuning
cache: 7,500 videos x 75 clips x 4 layers x 50 tokens x 768, fp16, i.e.
23 MB per video) in the directory layout, converts it to the packed and LMDB
backends, and times random reads (the same key sequence for every backend)
after one warm-up pass over all keys, in ``--rounds`` interleaved rounds
(each round times one pass per backend, the order rotated every round:
dir, packed, lmdb / packed, lmdb, dir / ...), so that load drift on a shared
machine hits every backend alike; it prints the median rate of each backend
and the median over rounds of its ratio to the directory backend's rate in
the same round. Two measurements:

- ``get``: ``store[key]``, a private writable ``[T, k, P, C]`` array;
- ``get+collate``: the item is also copied into a batch buffer, as the
  collate step does; here the packed store runs with ``copy=False`` (a
  read-only view into the memory map), so it copies once where the
  directory backend copies twice (``read()`` into a new array, then collate).

The page cache is warm (dropping it needs root), so this measures the
per-read software cost (open/parse per file vs. an index lookup and a copy
from a memory map), not disk seeks; with a cold cache on a real disk the
directory backend pays a file open + seek per read on top.

    python tools/benchmark/feature_store.py [--videos 400] [--tokens 4] \
        [--rounds 5]
"""
import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from vtg_plugins.datasets.feature_stores import BACKENDS, DirectoryWriter


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--videos', type=int, default=400)
    p.add_argument('--clips', type=int, default=75)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--tokens', type=int, default=4,
                   help='tokens per frame (50 in the real cache)')
    p.add_argument('--dim', type=int, default=768)
    p.add_argument('--reads', type=int, default=2000)
    p.add_argument('--rounds', type=int, default=5,
                   help='interleaved rounds, one timed pass per backend '
                   'each; medians are reported')
    p.add_argument('--workdir', default=None,
                   help='where to write the stores (default: a temp dir)')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def build_stores(work: Path, args) -> dict:
    rng = np.random.default_rng(args.seed)
    shape = (args.clips, args.layers, args.tokens, args.dim)
    meta = dict(backbone='synthetic', layers=[9, 10, 11, 12][-args.layers:],
                fps=0.5, clip_len=2.0, dtype='float16')
    keys = [f'vid{i:05d}' for i in range(args.videos)]
    with DirectoryWriter(work / 'dir', meta=meta, overwrite=True,
                         resume=False) as w:
        for key in keys:
            w.add(key, rng.random(shape, dtype=np.float32).astype(np.float16))
    src = BACKENDS['dir'][0](work / 'dir')
    for backend in ('packed', 'lmdb'):
        with BACKENDS[backend][1](work / backend, meta=meta, overwrite=True,
                                  resume=False) as w:
            for key in keys:
                w.add(key, src[key])
    return {b: BACKENDS[b][0](work / b) for b in ('dir', 'packed', 'lmdb')}


def time_pass(store, order, out=None) -> float:
    """Samples/s of one pass of random reads over ``order``; with ``out``
    (a batch slot) each item is also copied into it."""
    start = time.perf_counter()
    if out is None:
        for key in order:
            store[key]
    else:
        for key in order:
            out[...] = store[key]
    return len(order) / (time.perf_counter() - start)


def interleaved_rates(stores: dict, order, rounds: int,
                      out=None) -> Dict[str, List[float]]:
    """``{backend: [samples/s per round]}``: after a warm-up pass over all
    keys of every store, ``rounds`` rounds of one pass per backend, in an
    order rotated every round."""
    for store in stores.values():  # warm the page cache and open handles
        for key in store.keys():
            store[key]
    names = list(stores)
    rates = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            rates[name].append(time_pass(stores[name], order, out))
    return rates


def report(title: str, rates: Dict[str, List[float]], item_mb: float) -> None:
    """Median rate per backend and the median of its per-round ratio to the
    directory backend."""
    print(title)
    for backend, per_round in rates.items():
        rate = statistics.median(per_round)
        ratio = statistics.median(
            a / b for a, b in zip(per_round, rates['dir']))
        print(f'  {backend:7s} {rate:9.1f} samples/s {rate * item_mb:8.1f} '
              f'MiB/s  x{ratio:.2f} vs dir')


def main():
    args = parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix='vtg_store_bench_'))
    work.mkdir(parents=True, exist_ok=True)
    item_mb = args.clips * args.layers * args.tokens * args.dim * 2 / 2**20
    print(f'store: {args.videos} videos x [{args.clips} clips, {args.layers} '
          f'layers, {args.tokens} tokens, {args.dim}] fp16 = '
          f'{item_mb:.2f} MiB/video, {item_mb * args.videos / 1024:.2f} GiB '
          f'(real QVHighlights: 7500 x [75, 4, 50, 768] = 22.0 MiB/video, '
          f'161 GiB)')
    try:
        t0 = time.perf_counter()
        stores = build_stores(work, args)
        print(f'built dir/packed/lmdb stores in {work} in '
              f'{time.perf_counter() - t0:.1f}s')
        keys = stores['dir'].keys()
        order = np.random.default_rng(args.seed + 1).choice(
            keys, size=args.reads).tolist()
        what = (f'random reads, warm page cache, medians of {args.rounds} '
                f'interleaved rounds x {args.reads} reads')
        report(f'{what}, get:', interleaved_rates(stores, order, args.rounds),
               item_mb)
        out = np.empty((args.clips, args.layers, args.tokens, args.dim),
                       np.float16)
        stores['packed'] = BACKENDS['packed'][0](work / 'packed', copy=False)
        report(f'{what}, get+collate (packed: zero-copy view):',
               interleaved_rates(stores, order, args.rounds, out), item_mb)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
