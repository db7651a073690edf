"""Convert a DeepSpeed / FSDP strategy checkpoint to a plain MMEngine one.

Usage::

    python tools/model_converters/strategy_to_plain.py SRC DST \
        [--dtype fp32|native] [--tag TAG]

``SRC`` is a checkpoint directory that ``FlexibleRunner`` saved with
``DeepSpeedStrategy`` (``work_dir/epoch_N.pth/``), or with ``--tag`` the
directory holding it. ``DST`` gets ``{'meta', 'state_dict'}``, which
``load_from`` / ``tools/test.py CONFIG DST`` load on one process without
DeepSpeed. ``--dtype fp32`` (default) takes the fp32 master weights,
``native`` the weights as trained (bf16/fp16; not ZeRO-3). FSDP checkpoints
saved with ``state_dict_cfg='local'`` cannot be merged and are refused with
the fix (``state_dict_cfg='full'`` saves plain files). See
:mod:`vtg_plugins.utils.strategy_checkpoints`.
"""
import argparse
import sys
from typing import List, Optional

from vtg_plugins.utils.strategy_checkpoints import DTYPES, strategy_to_plain


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='strategy checkpoint directory')
    parser.add_argument('dst', help='output plain checkpoint file')
    parser.add_argument(
        '--dtype',
        choices=DTYPES,
        default='fp32',
        help='fp32: the fp32 master weights; native: the weights in the '
        'training dtype (ZeRO 0-2)')
    parser.add_argument(
        '--tag', help='the checkpoint name inside SRC (e.g. epoch_2.pth)')
    args = parser.parse_args(argv)
    try:
        done = strategy_to_plain(args.src, args.dst, args.dtype, args.tag)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {done.dst}: {done.num_tensors} tensors ({done.dtypes}, '
          f'{done.weights}) from a {done.kind} checkpoint')
    return 0


if __name__ == '__main__':
    sys.exit(main())
