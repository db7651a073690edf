"""Run a script of the installed ``tools/`` as a ``vtg`` subcommand.

The tools ship with the package as ``vtg_plugins/.mim/tools`` (symlinks in
an editable install, copies in a wheel: ``setup.py``), the folder ``mim``
runs ``tools/train.py`` from; a subcommand backed by a tool runs the same
file, so both give the same results and errors.
"""
import importlib.util
import os.path as osp
import sys
from typing import List

from ._command import command_parser

TOOLS_DIR = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'tools')


def tool_path(relpath: str) -> str:
    """The installed ``tools/{relpath}``.

    Raises:
        FileNotFoundError: when the install carries no ``tools/`` (an
            install made without setup.py's mim step).
    """
    path = osp.join(TOOLS_DIR, relpath)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path} is missing: this vtg_plugins install has no tools/ '
            '(install the wheel, or `pip install -e .` in a checkout)')
    return path


def _load_tool(relpath: str):
    path = tool_path(relpath)
    name = '_vtg_tool_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # registered first, so that worker processes can unpickle its functions
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_tool(relpath: str, argv: List[str], name: str, summary: str,
             example: str) -> int:
    """``tools/{relpath}``'s ``main(argv)`` under the program name
    ``vtg {name}``; ``--help`` also shows the subcommand's example."""
    try:
        module = _load_tool(relpath)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    wants_help = any(a in ('-h', '--help') for a in argv)
    prog, sys.argv[0] = sys.argv[0], f'vtg {name}'
    try:
        status = module.main(argv)
    except SystemExit as e:
        status = e.code
    finally:
        sys.argv[0] = prog
    if wants_help:
        print('\n' + command_parser(name, summary, example).epilog)
    if status is None:
        return 0
    return status if isinstance(status, int) else 1
