"""Locate reference fixtures (made by running the official code).

The fixtures live in ``../shared/refs`` beside the repository (CI always has
them) or wherever ``VTG_REFS`` points. In a user's clone they may be absent:
tests then skip with a message naming the file, unless ``VTG_REQUIRE_REFS=1``
(set by ``.ci/run``), where a missing fixture fails the test.
"""
import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def refs_root() -> Path:
    """Directory holding the reference fixtures (may not exist)."""
    env = os.environ.get('VTG_REFS')
    if env:
        return Path(env)
    return _REPO.parent / 'shared' / 'refs'


def ref_path(*parts: str) -> Path:
    """Path of a fixture file, or skip/fail the calling test when absent.

    Args:
        *parts: path components below the refs root, e.g.
            ``ref_path('r2_tuning', 'parity_qvh.pt')``.
    """
    path = refs_root().joinpath(*parts)
    if path.exists():
        return path
    import pytest
    msg = (f'reference fixture {path} is missing (set VTG_REFS to the '
           f'directory holding shared/refs)')
    if os.environ.get('VTG_REQUIRE_REFS') == '1':
        pytest.fail(msg + '; VTG_REQUIRE_REFS=1 requires it')
    pytest.skip(msg)
