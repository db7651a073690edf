"""Model-state memory per GPU of training configs, engine by engine:
``python tools/analysis/training_memory.py CONFIG [CONFIG ...] [--gpus 8]
[--format table|json]``.

Builds each config's model (on the ``meta`` device when it allows, so no
weights are allocated or loaded), counts its trainable and frozen parameters
and prints the bytes per GPU of parameters + gradients + optimizer states
under DDP (fp32, AMP), DeepSpeed ZeRO-1/2/3 and FSDP full sharding, with
ZeRO's arithmetic (``vtg_plugins.utils.training_memory``). Activations are
not included. Exits 1 when a config cannot be analysed (the others are
still printed).
"""
import argparse
import json
import os.path as osp
import sys
from typing import List

import vtg_plugins  # noqa: F401  (installs the upstream fixes)
from vtg_plugins.utils.training_memory import (ENGINES, GIB, NOT_COUNTED,
                                               MemoryReport, analyze_config)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Bytes per GPU of model states (parameters, gradients, '
        'optimizer states) per training engine; activations not included')
    parser.add_argument('configs', nargs='+', help='training config files')
    parser.add_argument(
        '--gpus',
        type=positive_int,
        default=8,
        help='number of GPUs the sharded engines divide over (default 8)')
    parser.add_argument(
        '--format',
        choices=['table', 'json'],
        default='table',
        help='a markdown table (default) or JSON with the bytes')
    return parser.parse_args(argv)


def _millions(count: int) -> str:
    return f'{count / 1e6:.2f}'


def table_row(report: MemoryReport) -> str:
    """One markdown row; the config's own engine is marked ``*``."""
    counts = report.counts
    cells = [
        osp.splitext(osp.basename(report.config))[0],
        ' / '.join(
            _millions(n)
            for n in (counts.total, counts.trainable, counts.frozen)),
        _millions(counts.buffers),
        f'{report.optimizer} ({report.optimizer_states})',
    ]
    for engine in ENGINES:
        mark = '*' if engine.name == report.config_engine else ''
        cells.append(f'{report.engines[engine.name].total / GIB:.3f}{mark}')
    return '| ' + ' | '.join(cells) + ' |'


def format_table(reports: List[MemoryReport], gpus: int) -> str:
    """The markdown table with its header and the notes below it."""
    names = [e.name for e in ENGINES]
    header = [
        'config', 'params M (total / trainable / frozen)', 'buffers M',
        'optimizer (states)'
    ] + names
    lines = [
        f'GiB per GPU on {gpus} GPUs: {NOT_COUNTED}.', '',
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|'
    ]
    lines += [table_row(r) for r in reports]
    lines += [
        '', '`*`: the engine the config itself trains with. optimizer '
        '(states): fp32 state tensors per trainable parameter, counted by '
        'one step of the optimizer on a dummy parameter (Adam/AdamW 2, SGD '
        'with momentum 1, without 0). Frozen parameters cost their weight '
        'only; buffers are not in the columns.'
    ]
    lines += [f'- {e.name}: {e.note}' for e in ENGINES]
    lines += [
        f'- {osp.basename(r.config)}: built on {r.built_on}' for r in reports
        if r.built_on != 'meta'
    ]
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    reports, failed = [], False
    for path in args.configs:
        try:
            reports.append(analyze_config(path, args.gpus))
        except Exception as err:  # noqa: BLE001  (report it, do the rest)
            print(f'error: {err}', file=sys.stderr)
            failed = True
    if args.format == 'json':
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    elif reports:
        print(format_table(reports, args.gpus))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
