"""Publish a checkpoint under its model-zoo name.

Usage::

    python tools/model_converters/publish_model.py CKPT OUT_DIR \
        --config CONFIG [--date YYYYMMDD] [--save-keys KEY ...]

Keeps only ``--save-keys`` of the checkpoint (default ``state_dict`` and
``meta``: the optimizer, the parameter schedulers, the message hub and
any EMA copy are dropped, each named), writes it atomically to
``OUT_DIR/{config stem}_{date}-{sha256[:8]}.pth`` (OpenMMLab's name, as
MMAction2's ``publish_model.py`` makes it; ``date`` defaults to today, UTC)
and prints the metafile line ``Weights: NAME``. ``CKPT`` is an MMEngine
checkpoint, ours or one converted by a project's ``convert_official.py``;
it is unpickled in full, so publish only files you trust. The file is built
in memory before it is written (about its size in RAM). Exits 1 naming the
file when the checkpoint has no ``state_dict`` or a key to keep is absent.
"""
import argparse
import datetime
import hashlib
import io
import os.path as osp
import sys
import zipfile
from typing import List, Optional

import torch

from vtg_plugins.utils.io import atomic_write_bytes
from vtg_plugins.utils.model_zoo import published_name


def publish(ckpt_path: str,
            out_dir: str,
            config: str,
            date: str,
            save_keys: Optional[List[str]] = None) -> str:
    """Write the published checkpoint; returns its path. ``save_keys``
    None: ``state_dict`` and, when there is one, ``meta``.

    Raises:
        ValueError: not a checkpoint dict with a ``state_dict``, or a key of
            ``save_keys`` it does not hold.
    """
    try:
        ckpt = torch.load(
            ckpt_path,
            map_location='cpu',
            weights_only=False,
            mmap=zipfile.is_zipfile(ckpt_path))
    except Exception as e:  # torch raises many types for a damaged file
        raise ValueError(f'{ckpt_path}: cannot be read as a torch '
                         f'checkpoint ({type(e).__name__}: {e})') from e
    if not isinstance(ckpt, dict) or 'state_dict' not in ckpt:
        what = f'keys {sorted(ckpt)[:8]}' if isinstance(ckpt, dict) else \
            f'a {type(ckpt).__name__}'
        raise ValueError(f'{ckpt_path}: not an MMEngine checkpoint (no '
                         f'state_dict; it holds {what})')
    if save_keys is None:
        save_keys = [k for k in ('meta', 'state_dict') if k in ckpt]
    if 'state_dict' not in save_keys:
        raise ValueError(f'--save-keys {save_keys}: a published checkpoint '
                         'keeps its state_dict')
    missing = [k for k in save_keys if k not in ckpt]
    if missing:
        raise ValueError(f'{ckpt_path}: has no {missing} to keep (its keys: '
                         f'{sorted(ckpt)})')
    for key in sorted(set(ckpt) - set(save_keys)):
        print(f'dropped {key}')
    buffer = io.BytesIO()
    torch.save({k: ckpt[k] for k in save_keys}, buffer)
    data = buffer.getvalue()
    stem = osp.splitext(osp.basename(config))[0]
    name = published_name(stem, date, hashlib.sha256(data).hexdigest())
    path = osp.join(out_dir, name)
    atomic_write_bytes(path, data)
    return path


def _date(text: str) -> str:
    try:
        datetime.datetime.strptime(text, '%Y%m%d')
    except ValueError as e:
        raise argparse.ArgumentTypeError(f'{text!r} is not YYYYMMDD') from e
    return text


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ckpt', help='MMEngine checkpoint to publish')
    parser.add_argument('out_dir', help='folder of the published file')
    parser.add_argument(
        '--config',
        required=True,
        help='the config of the model: its stem names the file')
    parser.add_argument(
        '--date',
        type=_date,
        default=datetime.datetime.now(
            datetime.timezone.utc).strftime('%Y%m%d'),
        help='YYYYMMDD in the name (default: today, UTC)')
    parser.add_argument(
        '--save-keys',
        nargs='+',
        help='checkpoint entries to keep (default: state_dict and meta)')
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config {args.config} does not exist', file=sys.stderr)
        return 1
    try:
        path = publish(args.ckpt, args.out_dir, args.config, args.date,
                       args.save_keys)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {path}')
    print(f'Weights: {osp.basename(path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
