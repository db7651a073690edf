"""Convert an official R²-Tuning checkpoint to a vtg_r2_tuning checkpoint.

Usage::

    python projects/r2_tuning/tools/convert_official.py IN.pth OUT.pth \
        [--arch ViT-B/32]

``IN`` is an official model-zoo ``.pth`` (github.com/yeliudev/R2-Tuning) or
a bare state_dict; pass ``--arch`` for B/16 features (the weights cannot
tell B/32 from B/16). The conversion is :func:`vtg_r2_tuning.converters
.convert`.
"""
import argparse
from typing import List, Optional

from vtg_r2_tuning.converters import convert


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--arch', default='ViT-B/32',
                        help='CLIP arch of the features (default ViT-B/32)')
    args = parser.parse_args(argv)
    cfg = convert(args.src, args.dst, args.arch)
    print(f'wrote {args.dst} ({cfg})')


if __name__ == '__main__':
    main()
