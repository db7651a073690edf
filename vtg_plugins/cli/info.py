"""``vtg info``: versions, devices and the installed method projects."""
from typing import List, Optional

from ._command import command_parser

SUMMARY = 'versions of the stack, CUDA and the installed method projects'
EXAMPLE = 'vtg info'


def main(argv: Optional[List[str]] = None) -> int:
    command_parser('info', SUMMARY, EXAMPLE).parse_args(argv)
    from vtg_plugins.utils import collect_env
    for key, value in collect_env().items():
        print(f'{key:>16}: {value}')
    return 0
