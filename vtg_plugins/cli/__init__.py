"""The ``vtg`` command: one front door to the tools of every method.

``vtg NAME ...`` runs the subcommand module ``vtg_plugins.cli.NAME`` (the
contract of a subcommand: :mod:`._command`). Training and testing stay
with ``mim train/test`` and ``tools/train.py`` / ``tools/test.py``; each
subcommand here is a thin layer over the API those tools use.
"""
import importlib
import sys
from typing import List, Optional

#: subcommands in the order ``vtg --help`` lists them
COMMANDS = ('info', 'extract', 'predict', 'retrieve', 'recognize', 'evaluate',
            'lint', 'demo')


def _load(name: str):
    return importlib.import_module(f'{__name__}.{name}')


def overview() -> str:
    """``vtg --help``: every subcommand with its summary and example."""
    lines = [
        'usage: vtg COMMAND [ARGS ...]    (vtg COMMAND --help for its '
        'options)', '', 'commands:'
    ]
    for name in COMMANDS:
        module = _load(name)
        lines.append(f'  {name:<10} {module.SUMMARY}')
        for example in module.EXAMPLE.strip().splitlines():
            lines.append(f'  {"":<10}   $ {example.strip()}')
    lines += [
        '', 'training and testing: mim train/test vtg_plugins CONFIG, '
        'tools/train.py, tools/test.py (docs/get_started.md)'
    ]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``vtg``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(overview())
        return 0 if argv else 2
    if argv[0] == '--version':
        from vtg_plugins.version import __version__
        print(f'vtg_plugins {__version__}')
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(
            f'vtg: unknown command {name!r}; the commands are: '
            f'{", ".join(COMMANDS)} (vtg --help)',
            file=sys.stderr)
        return 2
    status = _load(name).main(argv[1:])
    return 0 if status is None else int(status)
