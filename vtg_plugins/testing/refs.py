"""Locate reference fixtures (made by running the official code).

The fixtures live wherever ``VTG_REFS`` points (the test suite's conftest
sets a default for CI's layout). In a user's clone they may be absent: tests
then skip with a message naming the file, unless ``VTG_REQUIRE_REFS`` is
``1``/``true``/``yes`` (set by ``.ci/run``), where a missing fixture fails the
test.
"""
import os
from pathlib import Path
from typing import Optional

_TRUE = ('1', 'true', 'yes', 'on')


def refs_root() -> Optional[Path]:
    """Directory holding the reference fixtures (``VTG_REFS``), or None."""
    env = os.environ.get('VTG_REFS')
    return Path(env) if env else None


def refs_required() -> bool:
    """Whether a missing fixture fails (``VTG_REQUIRE_REFS``)."""
    return os.environ.get('VTG_REQUIRE_REFS', '').strip().lower() in _TRUE


def ref_path(*parts: str) -> Path:
    """Path of a fixture file, or skip/fail the calling test when absent.

    Args:
        *parts: path components below the refs root, e.g.
            ``ref_path('r2_tuning', 'parity_qvh.pt')``.
    """
    root = refs_root()
    if root is not None and root.joinpath(*parts).exists():
        return root.joinpath(*parts)
    import pytest
    where = (f'{root.joinpath(*parts)} is missing' if root is not None else
             f'{"/".join(parts)} cannot be found: VTG_REFS is not set')
    msg = (f'reference fixture {where} (set VTG_REFS to the folder of the '
           f'official-output fixtures)')
    if refs_required():
        pytest.fail(msg + '; VTG_REQUIRE_REFS requires it')
    pytest.skip(msg)
