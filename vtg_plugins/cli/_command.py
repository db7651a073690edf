"""What every ``vtg`` subcommand module provides, and the parser they share.

A subcommand is a module of :mod:`vtg_plugins.cli` with

``SUMMARY`` (str)
    one line, shown by ``vtg --help``;
``EXAMPLE`` (str)
    one or more command lines that run as written, shown by ``vtg --help``
    and by ``vtg NAME --help``;
``main(argv=None) -> int``
    the command itself: parses ``argv`` (the words after ``vtg NAME``) and
    returns the exit status; errors print ``error: ...`` and return 1.
"""
import argparse


def command_parser(name: str, summary: str, example: str,
                   **kwargs) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` named ``vtg NAME`` whose help ends with the
    command's example."""
    return argparse.ArgumentParser(
        prog=f'vtg {name}',
        description=summary,
        epilog='example:\n' +
        '\n'.join(f'  {line}' for line in example.strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs)
