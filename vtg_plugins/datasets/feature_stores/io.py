"""Atomic writes for feature stores, on top of :mod:`vtg_plugins.utils.io`.

Anything written to disk goes to a temporary name first and is renamed into
place with :func:`os.replace`, so an interrupted process never leaves a
half-written file (or store directory) under the final name.
"""
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vtg_plugins.utils.io import atomic_write


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + rename."""
    with atomic_write(path, 'wb') as f:
        f.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode('utf-8'))


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` to ``path`` (which must end in .npy), atomically."""
    with atomic_write(path, 'wb') as f:
        np.save(f, array, allow_pickle=False)


def npz_bytes(arrays: dict, compress: bool = False) -> bytes:
    """Serialize ``{name: array}`` as the bytes of an ``.npz`` archive."""
    with io.BytesIO() as buf:
        (np.savez_compressed if compress else np.savez)(buf, **arrays)
        return buf.getvalue()


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory ``src`` to ``dst``, replacing ``dst``.

    ``dst`` is swapped out by a rename first and deleted only after ``src``
    is in place, so ``dst`` always names either the old or the new store.
    """
    src, dst = Path(src), Path(dst)
    old = None
    if dst.exists():
        old = dst.with_name(f'.{dst.name}.old-{os.getpid()}')
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
