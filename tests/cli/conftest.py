"""Shared by the subcommand tests: a command's ``EXAMPLE`` lines as words,
and as the ``argv`` of its ``main`` run on a test's own files."""
import shlex
from pathlib import Path
from typing import Callable, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]


def _example_words(module, index: int) -> List[str]:
    """The words of line ``index`` of ``module.EXAMPLE``, ``vtg NAME``
    included."""
    words = shlex.split(module.EXAMPLE.strip().splitlines()[index])
    name = module.__name__.rsplit('.', 1)[-1]
    assert words[:2] == ['vtg', name], words[:2]
    return words


def _example_argv(module, index: int, files: Dict[str, object]) -> List[str]:
    """Line ``index`` of ``module.EXAMPLE`` without its ``vtg NAME``, each
    word that names a file (holds a ``/`` or ends in ``.json``) replaced by
    its stand-in ``files[word]``; every other word is kept, so the test runs
    the example's options. A ``configs/...`` word must be a config of the
    repository."""
    argv = []
    for word in _example_words(module, index)[2:]:
        if '/' in word or word.endswith('.json'):
            assert word in files, f'the example names {word}: no stand-in'
            if word.startswith('configs/'):
                assert (REPO / word).is_file(), word
            argv.append(str(files[word]))
        else:
            argv.append(word)
    return argv


@pytest.fixture(scope='session')
def example_words() -> Callable:
    return _example_words


@pytest.fixture(scope='session')
def example_argv() -> Callable:
    return _example_argv
