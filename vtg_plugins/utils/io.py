"""Atomic file writes: a crash mid-write never leaves a truncated file
behind, and an existing file is replaced only by a complete new one."""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Union


@contextmanager
def atomic_write(path: Union[str, os.PathLike],
                 mode: str = 'wb',
                 encoding: str = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename
    it over ``path`` (``os.replace``, atomic on POSIX); on error remove it.

    Example:
        >>> with atomic_write('preds.jsonl', 'w') as f:
        ...     f.write('...')
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_write supports modes w and wb, not {mode}')
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
