"""Packed backend: memory-mapped shards of concatenated rows + an index.

Shard files follow TempCLR's ``ShardedTensor`` (yyuncong/TempCLR
``utils/shardedtensor.py``): ``{name}_{i}_data.npy`` holds the rows of all
items of shard i concatenated along axis 0, and ``{name}_{i}_starts.npy``
(int64, ``n_i + 1`` entries, ``starts[0] = 0``, ``starts[-1] = len(data)``)
where item j's rows begin. We store an item of shape ``[..., D]`` as its
``[-1, D]`` rows, so ``[T, D]``, ``[K, T, D]`` and ``[T, K, P, C]`` items
share one layout, and add ``{name}_index.json`` mapping each key to
``(shard, position, shape)``. A TempCLR directory without our index is read
too: its keys are the global item positions ``'0'``, ``'1'``, ... and items
come back as stored rows.

Reading is a dictionary lookup and a slice of a memory map: no file opened
per item, which is where it beats the directory backend on random access.
The index and the shard files are checked when the store opens
(:mod:`.packed_index`), so a read never returns another key's rows.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from vtg_plugins.utils.io import (atomic_path, atomic_save_npy,
                                  atomic_write_json)

from .base import FEATURE_STORES, FeatureStore, PathLike, StoreWriter
from .npy_files import decoding
from .packed_index import (INDEX_FORMAT, INDEX_VERSION, Entry,
                           check_data_header, index_entries, load_starts,
                           read_index)


def _names(root: Path) -> List[str]:
    names = {p.name[:-len('_index.json')] for p in root.glob('*_index.json')}
    if not names:
        names = {m.group(1) for p in root.glob('*_0_data.npy')
                 if (m := re.fullmatch(r'(.+)_0_data\.npy', p.name))}
    return sorted(names)


class PackedWriter(StoreWriter):
    """Write a :class:`PackedStore`; each shard is written once it reaches
    ``shard_size_mb``, and the index is rewritten after each shard, so an
    interrupted conversion resumes after the last finished shard.

    Args:
        root: final store directory.
        name (str): shard prefix. Default ``'features'``.
        shard_size_mb (float): target shard size in MiB. Default 1024.
        **kwargs: see :class:`StoreWriter`.
    """
    def __init__(self, root: PathLike, name: str = 'features',
                 shard_size_mb: float = 1024, **kwargs):
        super().__init__(root, **kwargs)
        self.name = name
        self.shard_bytes = int(shard_size_mb * 2**20)
        self.index = dict(format=INDEX_FORMAT, version=INDEX_VERSION,
                          dtype=None, dim=None, num_shards=0, keys=[],
                          shard=[], pos=[], shapes=[])
        index_path = self.staging / f'{name}_index.json'
        if index_path.exists():
            self.index = read_index(index_path)
            self.done_keys.update(self.index['keys'])
        self._buf: List[Tuple[str, np.ndarray]] = []
        self._buf_bytes = 0

    def _add(self, key: str, array: np.ndarray) -> None:
        dtype, dim = self.index['dtype'], self.index['dim']
        if dtype is None:
            self.index['dtype'], self.index['dim'] = array.dtype.str, int(
                array.shape[-1])
        elif array.dtype.str != dtype or array.shape[-1] != dim:
            raise ValueError(
                f'key {key!r}: {array.dtype}[..., {array.shape[-1]}] does not '
                f'match the store ({np.dtype(dtype)}[..., {dim}])')
        self._buf.append((key, array))
        self._buf_bytes += array.nbytes
        if self._buf_bytes >= self.shard_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        i, dim = self.index['num_shards'], self.index['dim']
        lengths = [a.size // dim for _, a in self._buf]
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        with atomic_path(self.staging / f'{self.name}_{i}_data.npy') as tmp:
            data = np.lib.format.open_memmap(
                tmp, mode='w+', dtype=np.dtype(self.index['dtype']),
                shape=(int(starts[-1]), dim))
            for (key, arr), s, e in zip(self._buf, starts[:-1], starts[1:]):
                data[s:e] = arr.reshape(-1, dim)
            data.flush()
            del data
        atomic_save_npy(self.staging / f'{self.name}_{i}_starts.npy', starts)
        for p, (key, arr) in enumerate(self._buf):
            self.index['keys'].append(key)
            self.index['shard'].append(i)
            self.index['pos'].append(p)
            self.index['shapes'].append(list(arr.shape))
        self.index['num_shards'] = i + 1
        atomic_write_json(self.staging / f'{self.name}_index.json', self.index)
        self._buf, self._buf_bytes = [], 0

    def _finalize(self) -> None:
        self._flush()


@FEATURE_STORES.register_module()
class PackedStore(FeatureStore):
    """Memory-mapped shards + index (TempCLR-compatible shard files).

    Args:
        root: the store directory.
        name (str, optional): shard prefix; found automatically when the
            directory holds one store.
        copy (bool): return a writable copy (default) instead of a read-only
            view into the memory map.
    """
    backend = 'packed'
    writer_cls = PackedWriter

    def __init__(self, root: PathLike, name: Optional[str] = None,
                 copy: bool = True):
        super().__init__(root)
        if name is None:
            names = _names(self.root)
            if len(names) != 1:
                raise FileNotFoundError(
                    f'packed feature store {self.root}: expected one shard '
                    f'set ({{name}}_index.json or {{name}}_0_data.npy), '
                    f'found {names}; pass name=')
            name = names[0]
        self.name, self.copy = name, copy
        self._entries: Dict[str, Entry] = {}
        self._key_list: List[str] = []
        self._data: List[Optional[np.memmap]] = []
        self._load_index()

    def _handle_attrs(self) -> tuple:
        return ('_data', )

    def _shard_path(self, i: int, kind: str) -> Path:
        return self.root / f'{self.name}_{i}_{kind}.npy'

    def _load_index(self) -> None:
        """Read and check the index and the shard files (all but the data
        itself), see :mod:`.packed_index`."""
        index_path = self.root / f'{self.name}_index.json'
        if index_path.exists():
            index = read_index(index_path)
            starts = [load_starts(self._shard_path(i, 'starts'))
                      for i in range(index['num_shards'])]
            self._entries = index_entries(index, index_path, starts)
            self._key_list = list(index['keys'])
            dtype, dim = index['dtype'], index['dim']
        else:  # TempCLR ShardedTensor files only
            starts, dtype, dim = [], None, None
            while self._shard_path(len(starts), 'starts').exists():
                starts.append(load_starts(
                    self._shard_path(len(starts), 'starts')))
            for i, offsets in enumerate(starts):
                for start, end in zip(offsets[:-1], offsets[1:]):
                    key = str(len(self._key_list))
                    self._entries[key] = Entry(i, int(start), int(end), None)
                    self._key_list.append(key)
        for i, offsets in enumerate(starts):
            check_data_header(self._shard_path(i, 'data'), int(offsets[-1]),
                              self._shard_path(i, 'starts').name, dtype, dim)
        self._num_shards = len(starts)

    def _open(self) -> None:
        self._data = []
        for i in range(self._num_shards):
            path = self._shard_path(i, 'data')
            with decoding(f'packed shard file {path}'):
                self._data.append(
                    np.load(path, mmap_mode='r', allow_pickle=False))

    def _close(self) -> None:
        self._data = []

    def _keys(self) -> List[str]:
        return self._key_list

    def _read(self, key: str) -> np.ndarray:
        shard, start, end, shape = self._entries[key]
        rows = self._data[shard][start:end]
        if shape is not None:
            rows = rows.reshape(shape)
        return np.array(rows) if self.copy else rows
