"""Write the synthetic data of the tiny TempCLR configs.

Usage::

    python projects/tempclr/tools/write_synthetic_data.py \
        [--root data/tempclr_synthetic] [--feature-dim 32]

Then ``python tools/train.py
configs/tempclr/tempclr_tiny_1xb1-2e_synthetic-shards.py`` pre-trains on it
(see :mod:`vtg_tempclr.synthetic_data` for the layout).
"""
import argparse
from typing import List, Optional

from vtg_tempclr.synthetic_data import write_synthetic_data


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='data/tempclr_synthetic')
    parser.add_argument('--feature-dim', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    paths = write_synthetic_data(args.root, args.feature_dim, seed=args.seed)
    for name, path in paths.items():
        print(f'{name}: {path}')


if __name__ == '__main__':
    main()
