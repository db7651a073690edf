"""Read one MMPT ``ShardedTensor`` (``{prefix}_starts.npy`` and
``{prefix}_data.npy``).

``data`` holds the rows of all items of the shard concatenated along axis 0
and ``starts`` (``n + 1`` ints, ``0`` first, not decreasing, ``len(data)``
last) where item i's rows begin. The format checks are those of the shared
packed store (:mod:`vtg_plugins.datasets.feature_stores.packed_index`); this
class only adds per-item access by shard position. (The shared
:class:`~vtg_plugins.datasets.feature_stores.PackedStore` names shards
``{name}_{i}_{kind}.npy`` with global item keys, which cannot name MMPT's
caption shards ``{prefix}{split}_{shard}.startends_starts.npy``.)

The data file is memory-mapped on first access in each process, so a reader
built in the main process is cheap to fork or pickle into DataLoader workers.
"""
import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from vtg_plugins.datasets.feature_stores.npy_files import (decoding,
                                                           read_npy_header)
from vtg_plugins.datasets.feature_stores.packed_index import (
    check_data_header, load_starts)

PathLike = Union[str, os.PathLike]


def _first_decrease(path: Path) -> str:
    """`` (item i: ...)`` naming the first item whose start goes back, or
    ``''`` when the file does not show one."""
    try:
        starts = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return ''
    if starts.ndim != 1:
        return ''
    bad = np.nonzero(np.diff(starts) < 0)[0]
    if not len(bad):
        return ''
    i = int(bad[0])
    return (f' (item {i}: starts[{i}] = {starts[i]} > starts[{i + 1}] = '
            f'{starts[i + 1]})')


class ShardedTensorFile:
    """One shard of MMPT items, checked on open, mapped lazily.

    Args:
        prefix: the path without ``_starts.npy`` / ``_data.npy``.

    Attributes:
        starts (np.ndarray): int64 ``[n + 1]`` row offsets.
        row_shape (tuple): shape of one row (``data.shape[1:]``).
        dtype (np.dtype): dtype of the data.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: ``corrupt packed shard file {path}: ...`` when the
            starts are not 1-D ints from 0 up (naming the first item that
            goes back) or the data does not hold ``starts[-1]`` rows.
    """

    def __init__(self, prefix: PathLike) -> None:
        self.prefix = os.fspath(prefix)
        self.starts_path = Path(self.prefix + '_starts.npy')
        self.data_path = Path(self.prefix + '_data.npy')
        for path in (self.starts_path, self.data_path):
            if not path.is_file():
                raise FileNotFoundError(f'shard file {path} does not exist')
        try:
            self.starts = load_starts(self.starts_path)
        except ValueError as e:
            raise ValueError(f'{e}{_first_decrease(self.starts_path)}') \
                from None
        check_data_header(self.data_path, int(self.starts[-1]),
                          self.starts_path.name)
        where = f'packed shard file {self.data_path}'
        with decoding(where), open(self.data_path, 'rb') as f:
            header = read_npy_header(f, os.fstat(f.fileno()).st_size)
        self.row_shape: Tuple[int, ...] = tuple(header.shape[1:])
        self.dtype: np.dtype = header.dtype
        self._data: Optional[np.ndarray] = None
        self._pid: Optional[int] = None

    def __len__(self) -> int:
        return len(self.starts) - 1

    def lengths(self) -> np.ndarray:
        """Rows of each item, int64 ``[n]``."""
        return np.diff(self.starts)

    def __getitem__(self, i: int) -> np.ndarray:
        """Rows of item ``i`` (a read-only view into the memory map)."""
        if not 0 <= i < len(self):
            raise IndexError(f'{self.starts_path}: item {i} out of range '
                             f'(the shard holds {len(self)} items)')
        if self._pid != os.getpid():
            with decoding(f'packed shard file {self.data_path}'):
                self._data = np.load(
                    self.data_path, mmap_mode='r', allow_pickle=False)
            self._pid = os.getpid()
        return self._data[self.starts[i]:self.starts[i + 1]]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_data'], state['_pid'] = None, None
        return state

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.prefix!r}, items={len(self)})'
