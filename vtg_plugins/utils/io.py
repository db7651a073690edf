"""Atomic file writes: the one implementation every writer of the repository
uses (prediction and submission files, feature stores and their recipes,
annotation files, converted checkpoints, frames).

Everything is first written under a temporary name in the target's folder
and then moved into place with :func:`os.replace` (atomic on POSIX), so a
crash mid-write never leaves a truncated file behind and an existing file is
replaced only by a complete new one. :func:`replace_dir` does the same for a
whole directory (a finished feature store).

File modes are those a plain ``open(path, 'w')`` leaves: a new file gets
``0o666`` less the umask (``0o644`` under umask ``022``), a file that is
replaced keeps its permission bits (so a private ``0o600`` file stays
private and a shared ``0o664`` one stays shared); the owner is the writer,
as after any rename. :func:`replace_dir` gives the new directory the
permission bits of the one it replaces.
"""
import json
import os
import os.path as osp
import secrets
import shutil
import stat
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Tuple, Union

import numpy as np

PathLike = Union[str, os.PathLike]
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(
    os, 'O_CLOEXEC', 0)


def _permission_bits(path: str) -> Optional[int]:
    """The ``rwx`` bits of an existing ``path`` (None when absent)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode) & 0o777
    except FileNotFoundError:
        return None


def _create_temp(path: str) -> Tuple[str, int]:
    """Create an empty temporary file beside ``path``.

    Returns:
        tuple[str, int]: its path and the mode ``path`` must get, the one a
        plain ``open(path, 'w')`` would leave (see the module docstring).
        Until then the file has that mode plus owner read/write, so writers
        that reopen it by name can, and no one else sees more than they
        will.
    """
    directory, base = osp.split(osp.abspath(path))
    keep = _permission_bits(path)
    for _ in range(100):
        tmp = osp.join(directory, f'.{base}.{secrets.token_hex(4)}.tmp')
        try:  # for a new file the kernel applies the umask, as for open()
            fd = os.open(tmp, _TEMP_FLAGS, 0o666 if keep is None else 0o600)
        except FileExistsError:
            continue
        try:
            mode = keep if keep is not None else stat.S_IMODE(
                os.fstat(fd).st_mode)
            os.chmod(tmp, mode | 0o600)
        finally:
            os.close(fd)
        return tmp, mode
    raise FileExistsError(f'no free temporary name beside {path}')


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
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp, mode = _create_temp(path)
    try:
        yield tmp
        if mode != mode | 0o600:
            os.chmod(tmp, mode)
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
    A replaced directory's permission bits carry over to the new one.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    old = None
    if osp.lexists(dst):
        if osp.isdir(dst) and osp.isdir(src):
            os.chmod(src, _permission_bits(dst))
        old = osp.join(
            osp.dirname(dst), f'.{osp.basename(dst)}.old-{os.getpid()}')
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old) if osp.isdir(old) else os.remove(old)
