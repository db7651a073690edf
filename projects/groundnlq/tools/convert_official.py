"""Convert an official GroundNLQ checkpoint to a vtg_groundnlq checkpoint.

Usage::

    python projects/groundnlq/tools/convert_official.py IN OUT \
        [--key state_dict|state_dict_ema] [--n-head 4] [--max-seq-len 2560]

``IN`` is a checkpoint written by github.com/houzhijian/GroundNLQ or a bare
state dict; the architecture is read from the weights, the arguments give
what the weights cannot tell (defaults: the official configs). ``OUT`` is an
MMEngine checkpoint (``{'meta', 'state_dict'}``), written atomically. The
conversion is :func:`vtg_groundnlq.converters.convert_checkpoint`.
"""
import argparse
from typing import List, Optional

from vtg_groundnlq.converters import convert_checkpoint


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output MMEngine checkpoint')
    parser.add_argument(
        '--key',
        default='state_dict',
        help='entry holding the weights (state_dict or state_dict_ema)')
    parser.add_argument('--n-head', type=int, default=4)
    parser.add_argument('--window', type=int, default=9)
    parser.add_argument('--max-seq-len', type=int, default=2560)
    args = parser.parse_args(argv)
    cfg, sd = convert_checkpoint(
        args.src, args.dst, args.key,
        dict(
            n_head=args.n_head,
            n_mha_win_size=args.window,
            max_seq_len=args.max_seq_len))
    print(f'wrote {args.dst}: {len(sd)} tensors, arch {cfg}')


if __name__ == '__main__':
    main()
