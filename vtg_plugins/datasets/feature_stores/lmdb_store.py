"""LMDB backend in the GroundNLQ layout.

GroundNLQ (houzhijian/GroundNLQ ``feature_extraction/convert_pt_to_lmdb.py``,
read by ``libs/datasets/ego4d_loader.py``): keys are the utf-8 clip uid
(video store) or query id (text store); each value is the bytes of an
``.npz`` archive (``np.savez_compressed``) holding ``features`` (video,
float32 ``[T, 2304]``) or ``token_features`` (text ``[L, D]``, official
reader falls back to ``features``). A 1-D array is read as ``[1, D]``, as
the official text reader does. Values that are ``.npy`` bytes are read too.
"""
import io
import os
from pathlib import Path
from typing import List, Optional, Sequence

import lmdb
import numpy as np

from .base import (FEATURE_STORES, FeatureStore, PathLike, StoreWriter,
                   npz_bytes)
from .lmdb_meta import check_lmdb_file
from .npy_files import decoding, load_array

# LMDB allows one environment per file and process: stores share it.
_ENVS: dict = {}


def decode_key(raw, store: Path) -> str:
    """The str of an LMDB key (utf-8 bytes).

    Raises:
        ValueError: naming the store and showing the key bytes when they
            are not utf-8.
    """
    raw = bytes(raw)
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ValueError(
            f'LMDB feature store {store}: key {raw!r} is not utf-8 '
            f'({e.reason} at byte {e.start}); keys are the utf-8 clip or '
            'query ids') from None


def decode_value(buf, npz_keys: Sequence[str], where: str) -> np.ndarray:
    """Decode one LMDB value (npz or npy bytes) into an array; ``where``
    names the value in errors (``corrupt {where}: ...``)."""
    with decoding(where), io.BytesIO(buf) as fp:
        arr = load_array(fp, memoryview(buf).nbytes, npz_keys, single=False)
    return arr[None] if arr.ndim == 1 else arr


class LMDBWriter(StoreWriter):
    """Write an :class:`LMDBStore` in the GroundNLQ layout.

    Args:
        root: final LMDB directory.
        array_name (str): name of the array in each ``.npz`` value:
            ``'features'`` (video, default) or ``'token_features'`` (text).
        compress (bool): ``np.savez_compressed`` as GroundNLQ does.
            Default False (random features do not compress).
        map_size (int): LMDB map size in bytes (virtual). Default 1 TiB.
        commit_every (int): items per write transaction. Default 64.
        **kwargs: see :class:`StoreWriter`.
    """
    def __init__(self, root: PathLike, array_name: str = 'features',
                 compress: bool = False, map_size: int = 1 << 40,
                 commit_every: int = 64, **kwargs):
        super().__init__(root, **kwargs)
        self.array_name, self.compress = array_name, compress
        self.commit_every = commit_every
        if (self.staging / 'data.mdb').exists():  # resuming
            check_lmdb_file(self.staging / 'data.mdb', self.staging)
        # files follow the umask as a plain open() does (lmdb's default
        # mode is 0o755)
        self._env = lmdb.open(str(self.staging), map_size=map_size,
                              mode=0o666)
        with self._env.begin() as txn, txn.cursor() as cur:
            self.done_keys.update(
                decode_key(k, self.staging)
                for k in cur.iternext(values=False))
        self._txn, self._pending = None, 0

    def _add(self, key: str, array: np.ndarray) -> None:
        if self._txn is None:
            self._txn = self._env.begin(write=True)
        self._txn.put(key.encode('utf-8'),
                      npz_bytes({self.array_name: array}, self.compress))
        self._pending += 1
        if self._pending >= self.commit_every:
            self._flush()

    def _flush(self) -> None:
        if self._txn is not None:
            self._txn.commit()
        self._txn, self._pending = None, 0

    def _finalize(self) -> None:
        self._flush()
        self._env.sync()
        self._env.close()

    def _abort(self) -> None:
        self._finalize()


@FEATURE_STORES.register_module()
class LMDBStore(FeatureStore):
    """Read-only LMDB store (GroundNLQ / NaQ layout).

    Args:
        root: the LMDB directory (holding ``data.mdb``).
        npz_keys (Sequence[str]): array names tried in order in each
            ``.npz`` value. Default ``('token_features', 'features')``, the
            official text-reader order; video values hold only ``features``.
    """
    backend = 'lmdb'
    writer_cls = LMDBWriter

    def __init__(self,
                 root: PathLike,
                 npz_keys: Sequence[str] = ('token_features', 'features')):
        super().__init__(root)
        if not (self.root / 'data.mdb').exists():
            raise FileNotFoundError(
                f'LMDB feature store {self.root} has no data.mdb')
        self.npz_keys = tuple(npz_keys)
        self._env: Optional[lmdb.Environment] = None
        self._txn = None
        self._key_list: Optional[List[str]] = None

    def _handle_attrs(self) -> tuple:
        return ('_env', '_txn')

    def _open(self) -> None:
        path = os.path.realpath(self.root)
        # the inode tells a store rewritten at the same path from the old one
        cache_key = (path, os.stat(os.path.join(path, 'data.mdb')).st_ino)
        pid, env = _ENVS.get(cache_key, (None, None))
        if pid != os.getpid():  # never reuse a parent's handle after fork
            check_lmdb_file(self.root / 'data.mdb', self.root)
            try:
                env = lmdb.open(path, readonly=True, lock=False,
                                readahead=False, create=False,
                                max_readers=1024)
            except lmdb.Error as e:
                raise ValueError(f'corrupt LMDB feature store {self.root}: '
                                 f'{e}') from None
            _ENVS[cache_key] = (os.getpid(), env)
        self._env, self._txn = env, env.begin(buffers=True)

    def _close(self) -> None:
        if self._txn is not None and self._pid == os.getpid():
            self._txn.abort()
        self._env = self._txn = None

    def _keys(self) -> List[str]:
        if self._key_list is None:
            with self._txn.cursor() as cur:
                self._key_list = [decode_key(k, self.root)
                                  for k in cur.iternext(values=False)]
        return self._key_list

    def _describe(self, key: str) -> str:
        return f'LMDB value {key!r} in {self.root / "data.mdb"}'

    def _read(self, key: str) -> np.ndarray:
        buf = self._txn.get(key.encode('utf-8'))
        return decode_value(buf, self.npz_keys, self._describe(key))
