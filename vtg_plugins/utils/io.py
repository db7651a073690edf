"""Atomic file writes: the one implementation every writer of the repository
uses (prediction and submission files, feature stores and their recipes,
annotation files, converted checkpoints, frames).

Everything is first written under a temporary name in the target's folder
and then moved into place with :func:`os.replace` (atomic on POSIX), so a
crash mid-write never leaves a truncated file behind and an existing file is
replaced only by a complete new one. :func:`replace_dir` does the same for a
whole directory (a finished feature store).
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path`` for a writer that needs a file
    name (``np.lib.format.open_memmap``, ``torch.save``); on success it is
    renamed over ``path``, on error removed. The parent folder is created.

    Example:
        >>> with atomic_path('shard_0.npy') as tmp:
        ...     data = np.lib.format.open_memmap(tmp, mode='w+', ...)
    """
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@contextmanager
def atomic_write(path: PathLike,
                 mode: str = 'wb',
                 encoding: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename
    it over ``path``; on error remove it.

    Example:
        >>> with atomic_write('preds.jsonl', 'w') as f:
        ...     f.write('...')
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_write supports modes w and wb, not {mode}')
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, 'wb') as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str,
                      encoding: str = 'utf-8') -> str:
    """Write ``text`` to ``path`` atomically.

    Returns:
        str: ``path``.
    """
    with atomic_write(path, 'w', encoding=encoding) as f:
        f.write(text)
    return os.fspath(path)


def atomic_write_json(path: PathLike, obj: Any, indent: int = 1) -> None:
    """Write ``obj`` as indented JSON (utf-8), atomically."""
    atomic_write_bytes(path, json.dumps(obj, indent=indent).encode('utf-8'))


def atomic_save_npy(path: PathLike, array: np.ndarray) -> None:
    """``np.save`` ``array`` (no pickles) to ``path``, atomically."""
    with atomic_write(path, 'wb') as f:
        np.save(f, array, allow_pickle=False)


def replace_dir(src: PathLike, dst: PathLike) -> None:
    """Move the finished directory ``src`` to ``dst``, replacing ``dst``.

    ``dst`` is swapped out by a rename first and deleted only after ``src``
    is in place, so ``dst`` always names either the old or the new directory.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    old = None
    if osp.lexists(dst):
        old = osp.join(
            osp.dirname(dst), f'.{osp.basename(dst)}.old-{os.getpid()}')
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old) if osp.isdir(old) else os.remove(old)
