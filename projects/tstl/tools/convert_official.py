"""Convert an official TSTL / CAST fine-tuned checkpoint to ours.

Usage::

    python projects/tstl/tools/convert_official.py IN OUT \
        [--variant auto|bidir|compo]

``IN`` is a checkpoint saved by the official training scripts (``model``
entry, a DeepSpeed ``module`` entry or a bare state dict, with or without
a DDP ``module.`` prefix). ``OUT`` is an MMEngine checkpoint (``meta`` +
``state_dict`` in our ``Recognizer3D`` keys) that ``load_from`` or
``tools/test.py`` reads. The variant is read from the head keys unless
given. The conversion is :func:`vtg_tstl.converters.convert_checkpoint`.
"""
import argparse
import sys
from typing import List, Optional

from vtg_tstl.converters import convert_checkpoint

_VARIANTS = dict(auto=None, bidir=False, compo=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output MMEngine checkpoint')
    parser.add_argument('--variant', choices=sorted(_VARIANTS), default='auto')
    args = parser.parse_args(argv)
    try:
        compo, sd = convert_checkpoint(args.src, args.dst,
                                       _VARIANTS[args.variant])
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}: {len(sd)} tensors, '
          f'{"compo" if compo else "bidir"} variant')
    return 0


if __name__ == '__main__':
    sys.exit(main())
