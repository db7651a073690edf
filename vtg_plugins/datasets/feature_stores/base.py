"""Feature-store reader interface, writer base, recipe metadata.

A feature store maps a key (video id or query id) to an array: video features
``[T, D]`` or ``[K, T, D]`` (K CLIP layers; R²-Tuning's cache is
``[T, K, P, C]``), query features ``[L, D]`` or ``[K, L, D]``. Every backend
keeps a small ``meta.json`` in its root: the feature recipe (backbone, weights
hash, layers, fps / clip length, crop, dtype). Datasets compare it with the
recipe their config states
(:func:`vtg_plugins.features.check_recipe`).

Configs build stores through the :data:`FEATURE_STORES` registry::

    video_store=dict(type='PackedStore', root='data/qvh/clip_b32_vid_k4')

Each registered reader names its backend (``backend``, the name tools take
on the command line) and the writer of its layout (``writer_cls``);
:data:`BACKENDS` is read from the registry, so a backend registered by a
plugin is listed too.
"""
import io
import json
import os
import shutil
from abc import ABCMeta, abstractmethod
from pathlib import Path
from typing import (Iterator, List, Mapping, Optional, Set, Tuple, Type,
                    Union)

import numpy as np

from vtg_plugins.registry import FEATURE_STORES
from vtg_plugins.utils.io import atomic_write_json, replace_dir

from .npy_files import NUMERIC_KINDS

META_FILE = 'meta.json'
PathLike = Union[str, os.PathLike]


def read_meta(root: PathLike) -> dict:
    """The recipe dict of a store (``{}`` when it has no ``meta.json``)."""
    path = Path(root) / META_FILE
    if not path.exists():
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f'corrupt feature-store metadata {path}: {e}') from None
    if not isinstance(meta, dict):
        raise ValueError(f'corrupt feature-store metadata {path}: expected a '
                         f'JSON object, got {type(meta).__name__}')
    return meta


def npz_bytes(arrays: dict, compress: bool = False) -> bytes:
    """Serialize ``{name: array}`` as the bytes of an ``.npz`` archive."""
    with io.BytesIO() as buf:
        (np.savez_compressed if compress else np.savez)(buf, **arrays)
        return buf.getvalue()


class StoreWriter(metaclass=ABCMeta):
    """Write a store into ``{root}.partial`` and rename it to ``root``.

    Use as a context manager: on success the staging directory replaces
    ``root`` (with :func:`~vtg_plugins.utils.io.replace_dir`); on an
    exception it stays, and a new writer with ``resume=True`` continues from
    it (:attr:`done_keys` tells what is already there).

    Args:
        root: final store directory.
        meta (dict, optional): recipe written to ``meta.json``.
        overwrite (bool): replace an existing ``root``. Default False.
        resume (bool): continue an existing staging directory instead of
            starting over. Default True.
    """

    def __init__(self,
                 root: PathLike,
                 meta: Optional[dict] = None,
                 overwrite: bool = False,
                 resume: bool = True):
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise FileExistsError(f'{self.root} exists; pass overwrite=True '
                                  '(--overwrite) to replace it')
        self.staging = self.root.with_name(self.root.name + '.partial')
        if self.staging.exists() and not resume:
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True, exist_ok=True)
        self.meta = dict(meta or {})
        self.done_keys: Set[str] = set()
        self._committed = False

    def add(self, key: str, array: np.ndarray) -> None:
        """Store ``array`` under ``key`` (keys of resumed items are skipped
        by the caller through :attr:`done_keys`)."""
        if not isinstance(key, str) or not key or key.startswith('.') \
                or '/' in key or os.sep in key:
            raise ValueError(f'invalid feature-store key {key!r}: must be a '
                             "non-empty str without '/' or a leading '.'")
        array = np.asarray(array)
        if array.ndim == 0:
            raise ValueError(f'key {key!r}: features must have >= 1 dim')
        self._add(key, array)
        self.done_keys.add(key)

    @abstractmethod
    def _add(self, key: str, array: np.ndarray) -> None:
        """Write one item into :attr:`staging`."""

    def _finalize(self) -> None:
        """Flush buffers and write indexes into :attr:`staging`."""

    def commit(self) -> None:
        """Finish the store and move it to :attr:`root`."""
        self._finalize()
        atomic_write_json(self.staging / META_FILE, self.meta)
        replace_dir(self.staging, self.root)
        self._committed = True

    def __enter__(self) -> 'StoreWriter':
        return self

    def _abort(self) -> None:
        """Leave :attr:`staging` resumable after an error."""

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
        elif not self._committed:
            self.commit()


class FeatureStore(metaclass=ABCMeta):
    """Read-only mapping ``key -> np.ndarray`` over a store on disk.

    Subclasses implement :meth:`_keys` and :meth:`_read` and declare
    :attr:`backend` and :attr:`writer_cls`. Handles (LMDB environments,
    memory maps) are opened lazily and reopened after a fork, so a store can
    be built in the main process and used in DataLoader workers.

    Args:
        root: the store directory.

    Attributes:
        backend (str): the backend name (``'dir'``, ``'lmdb'``, ...), the
            key of :data:`BACKENDS`.
        writer_cls (type[StoreWriter] | None): the writer of this layout
            (None for a read-only backend).
    """
    backend = 'base'
    writer_cls: Optional[Type[StoreWriter]] = None

    def __init__(self, root: PathLike):
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(
                f'{self.backend} feature store {self.root} does not exist')
        self.meta = read_meta(self.root)
        self._key_set: Optional[Set[str]] = None
        self._pid: Optional[int] = None

    # --- to implement -----------------------------------------------------
    @abstractmethod
    def _keys(self) -> List[str]:
        """All keys, in a stable order."""

    @abstractmethod
    def _read(self, key: str) -> np.ndarray:
        """The array of an existing key."""

    def _open(self) -> None:
        """(Re)open handles in the current process."""

    def _close(self) -> None:
        """Drop handles."""

    # --- public interface ---------------------------------------------------
    def _ensure_open(self) -> None:
        if self._pid != os.getpid():
            self._close()
            self._open()
            self._pid = os.getpid()

    def keys(self) -> List[str]:
        """All keys of the store."""
        self._ensure_open()
        return self._keys()

    def _keyset(self) -> Set[str]:
        if self._key_set is None:
            self._key_set = set(self.keys())
        return self._key_set

    def __contains__(self, key: object) -> bool:
        return key in self._keyset()

    def __len__(self) -> int:
        return len(self._keyset())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __getitem__(self, key: str) -> np.ndarray:
        """The array stored under ``key`` (a writable copy).

        Raises:
            KeyError: naming the store and the key when it is absent.
            ValueError: naming the file when the stored data is corrupt or
                is not a numeric array with >= 1 dim.
        """
        if key not in self:
            raise KeyError(f'{self.backend} feature store {self.root} has no '
                           f'key {key!r} ({len(self)} keys)')
        self._ensure_open()
        array = self._read(key)
        if array.ndim == 0 or array.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(
                f'{self._describe(key)} holds a {array.dtype} array of shape '
                f'{list(array.shape)}; features are numeric arrays (bool, '
                'int or float) with >= 1 dim')
        if not array.dtype.isnative:  # torch refuses foreign byte orders
            array = array.astype(array.dtype.newbyteorder('='))
        return array

    def _describe(self, key: str) -> str:
        """Where ``key`` is stored, for error messages."""
        return f'key {key!r} of {self.backend} feature store {self.root}'

    def close(self) -> None:
        """Release open handles (they reopen on next use)."""
        self._close()
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_pid'] = None
        for k in self._handle_attrs():
            state[k] = None
        return state

    def _handle_attrs(self) -> tuple:
        """Attribute names of unpicklable handles."""
        return ()

    def __repr__(self) -> str:
        return f'{type(self).__name__}(root={str(self.root)!r})'


def build_feature_store(cfg: Union[dict, FeatureStore]) -> FeatureStore:
    """Build a store from ``dict(type='PackedStore', root=...)``."""
    if isinstance(cfg, FeatureStore):
        return cfg
    return FEATURE_STORES.build(cfg)


class _Backends(Mapping):
    """Backend name -> ``(reader class, writer class)`` of every reader in
    :data:`FEATURE_STORES`, read from the registry at each lookup."""

    def _table(self) -> dict:
        FEATURE_STORES.import_from_location()
        table = {}
        for reader in FEATURE_STORES.module_dict.values():
            name = reader.backend
            if name in table:
                raise ValueError(
                    f'feature-store backend {name!r} is declared by both '
                    f'{table[name][0].__name__} and {reader.__name__}')
            table[name] = (reader, reader.writer_cls)
        return table

    def __getitem__(self, name: str) -> Tuple[type, Optional[type]]:
        table = self._table()
        if name not in table:
            raise KeyError(f'unknown feature-store backend {name!r}; known: '
                           f'{sorted(table)}')
        return table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f'BACKENDS({self._table()!r})'


#: backend name -> (reader class, writer class), from :data:`FEATURE_STORES`
BACKENDS: Mapping[str, Tuple[type, Optional[type]]] = _Backends()
