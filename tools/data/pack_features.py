"""Convert a feature store between backends (dir, lmdb, packed).

    python tools/data/pack_features.py SRC DST --src-backend dir \
        --dst-backend packed [--shard-size-mb 1024]

The store is written into ``DST.partial`` and renamed to ``DST`` when
complete, so ``DST`` never holds a half-written store. An interrupted run
leaves ``DST.partial``; running the same command again resumes from it (items
already there are skipped; ``--no-resume`` starts over). The source recipe
(``meta.json``) is copied. ``--verify`` re-reads every item afterwards.
"""
import argparse
import sys
import time

import numpy as np
from mmengine.utils import ProgressBar

from vtg_plugins.datasets.feature_stores import BACKENDS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a feature store between backends.')
    parser.add_argument('src', help='source store')
    parser.add_argument('dst', help='destination store (created)')
    choices = sorted(BACKENDS)
    parser.add_argument('--src-backend', required=True, choices=choices)
    parser.add_argument('--dst-backend', required=True, choices=choices)
    parser.add_argument(
        '--shard-size-mb', type=float, default=1024,
        help='packed: target shard size in MiB (default 1024)')
    parser.add_argument(
        '--name', default='features', help='packed: shard prefix')
    parser.add_argument(
        '--src-name', default=None,
        help='packed source: shard prefix (found automatically)')
    parser.add_argument(
        '--array-name', default='features',
        help="lmdb: array name in each npz value ('features' for video, "
        "'token_features' for text)")
    parser.add_argument(
        '--ext', default='.npy', choices=['.npy', '.npz'],
        help='dir: file type written')
    parser.add_argument(
        '--compress', action='store_true',
        help='lmdb / dir .npz: compress values (as GroundNLQ does)')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing DST')
    parser.add_argument(
        '--no-resume', action='store_true',
        help='discard an existing DST.partial instead of resuming it')
    parser.add_argument(
        '--verify', action='store_true',
        help='re-read every item of DST and compare with SRC')
    return parser.parse_args(argv)


def _writer_kwargs(args) -> dict:
    if args.dst_backend == 'packed':
        return dict(name=args.name, shard_size_mb=args.shard_size_mb)
    if args.dst_backend == 'lmdb':
        return dict(array_name=args.array_name, compress=args.compress)
    return dict(ext=args.ext, compress=args.compress)


def convert(args) -> int:
    reader_cls = BACKENDS[args.src_backend][0]
    src = (reader_cls(args.src, name=args.src_name)
           if args.src_backend == 'packed' else reader_cls(args.src))
    writer_cls = BACKENDS[args.dst_backend][1]
    keys = src.keys()
    start = time.time()
    with writer_cls(args.dst, meta=src.meta, overwrite=args.overwrite,
                    resume=not args.no_resume,
                    **_writer_kwargs(args)) as writer:
        resumed = len(writer.done_keys & set(keys))
        print(f'{args.src} ({args.src_backend}, {len(keys)} items) -> '
              f'{args.dst} ({args.dst_backend})' +
              (f'; resuming, {resumed} items already written'
               if resumed else ''))
        todo = [k for k in keys if k not in writer.done_keys]
        bar = ProgressBar(len(todo))
        for key in todo:
            writer.add(key, src[key])
            bar.update()
    print(f'\nwrote {len(todo)} items ({resumed} resumed) in '
          f'{time.time() - start:.1f}s')
    if args.verify:
        dst = BACKENDS[args.dst_backend][0](args.dst)
        bad = [k for k in keys
               if k not in dst or not np.array_equal(dst[k], src[k])]
        if bad or len(dst) != len(keys):
            print(f'verify FAILED: {len(bad)} items differ, e.g. {bad[:5]}; '
                  f'{len(dst)} items in DST, {len(keys)} in SRC')
            return 1
        print(f'verified {len(keys)} items')
    return 0


def main(argv=None) -> int:
    return convert(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
