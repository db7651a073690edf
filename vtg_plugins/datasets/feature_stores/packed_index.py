"""Validation of a packed store's files when it opens.

The index (``{name}_index.json``) is checked field by field, then against
the shard files: ``{name}_{i}_starts.npy`` (row offsets) and the header of
``{name}_{i}_data.npy`` (rows, columns, dtype, size on disk). A store
passes only if every key names exactly one item, every item belongs to one
key, and every recorded shape is the item's rows, so a read can never
return another key's rows or reshape them wrongly.
"""
import json
import os
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .npy_files import (NUMERIC_KINDS, decoding, load_npy,
                        read_npy_header)

INDEX_FORMAT = 'vtg_packed'
INDEX_VERSION = 1
_LISTS = ('keys', 'shard', 'pos', 'shapes')


class Entry(NamedTuple):
    """Where a key's rows are: ``data[shard][start:end]``, shaped ``shape``
    (None for TempCLR items: the rows as stored)."""
    shard: int
    start: int
    end: int
    shape: Optional[Tuple[int, ...]]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_starts(path: Path) -> np.ndarray:
    """A shard's row offsets: int64 ``[n + 1]``, ``0`` first, not
    decreasing.

    Raises:
        ValueError: ``corrupt packed shard file {path}: ...``.
    """
    with decoding(f'packed shard file {path}'), open(path, 'rb') as f:
        starts = load_npy(f, os.fstat(f.fileno()).st_size)
        if (starts.ndim != 1 or starts.dtype.kind not in 'iu'
                or len(starts) < 1 or starts[0] != 0
                or np.any(np.diff(starts) < 0)):
            raise ValueError(f'starts must be 1-D integers, begin at 0 and '
                             f'not decrease (got {starts.dtype} '
                             f'{list(starts.shape)})')
    return starts.astype(np.int64)


def check_data_header(path: Path, rows: int, starts_name: str,
                      dtype: Optional[str] = None,
                      dim: Optional[int] = None) -> None:
    """Check a shard's data file without mapping it: numeric, complete on
    disk, ``rows`` rows (and, for an indexed store, 2-D ``[rows, dim]`` of
    ``dtype``).

    Raises:
        ValueError: ``corrupt packed shard file {path}: ...``.
    """
    with decoding(f'packed shard file {path}'), open(path, 'rb') as f:
        header = read_npy_header(f, os.fstat(f.fileno()).st_size)
        shape = list(header.shape)
        if not shape or shape[0] != rows:
            raise ValueError(f'{shape} rows but {starts_name} ends at {rows}')
        if header.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f'{header.dtype} data; features are numeric')
        if dim is not None and shape != [rows, dim]:
            raise ValueError(f'shape {shape}, but the index field dim = '
                             f'{dim} needs [{rows}, {dim}]')
        if dtype is not None and header.dtype != np.dtype(dtype):
            raise ValueError(f'dtype {header.dtype}, but the index field '
                             f'dtype = {dtype!r}')


def _check_fields(index, num_keys: int) -> None:
    """The top-level fields of an index; raises ValueError naming one."""
    if index.get('format') != INDEX_FORMAT or \
            index.get('version') != INDEX_VERSION:
        raise ValueError(f'field format/version = {index.get("format")!r}/'
                         f'{index.get("version")!r}, expected '
                         f'{INDEX_FORMAT!r}/{INDEX_VERSION}')
    if not (_is_int(index.get('num_shards')) and index['num_shards'] >= 0):
        raise ValueError(f'field num_shards = {index.get("num_shards")!r}, '
                         'expected an int >= 0')
    if num_keys == 0:
        return
    dim = index.get('dim')
    if not (_is_int(dim) and dim > 0):
        raise ValueError(f'field dim = {dim!r}, expected an int > 0')
    dtype = index.get('dtype')
    try:
        numeric = isinstance(dtype, str) and \
            np.dtype(dtype).kind in NUMERIC_KINDS
    except TypeError:
        numeric = False
    if not numeric:
        raise ValueError(f'field dtype = {index.get("dtype")!r}, expected a '
                         'numeric numpy dtype string')


def _check_entry(index: dict, i: int, seen: Dict[str, int]) -> None:
    """Entry ``i`` on its own; raises ValueError naming key and field."""
    key = index['keys'][i]
    if not isinstance(key, str) or not key:
        raise ValueError(f'entry {i}: field keys = {key!r}, expected a '
                         'non-empty str')
    if key in seen:
        raise ValueError(f'key {key!r} is listed twice (entries {seen[key]} '
                         f'and {i}); each key names one item')
    seen[key] = i
    where = f'key {key!r} (entry {i}): field'
    shard, pos, shape = (index[f][i] for f in ('shard', 'pos', 'shapes'))
    if not (_is_int(shard) and 0 <= shard < index['num_shards']):
        raise ValueError(f'{where} shard = {shard!r}, expected an int in '
                         f'[0, {index["num_shards"]})')
    if not (_is_int(pos) and pos >= 0):
        raise ValueError(f'{where} pos = {pos!r}, expected an int >= 0')
    if not (isinstance(shape, list) and shape
            and all(_is_int(n) and n >= 0 for n in shape)):
        raise ValueError(f'{where} shapes = {shape!r}, expected a non-empty '
                         'list of ints >= 0')
    if shape[-1] != index['dim']:
        raise ValueError(f'{where} shapes = {shape}: last dim {shape[-1]} '
                         f'is not the store\'s dim {index["dim"]}')


def read_index(path: Path) -> dict:
    """Parse ``{name}_index.json`` and check every field of every entry.

    Raises:
        ValueError: ``corrupt packed index {path}: ...`` naming the key
            (and entry) and the field.
    """
    with decoding(f'packed index {path}'):
        with open(path, encoding='utf-8') as f:
            index = json.load(f)
        if not isinstance(index, dict):
            raise ValueError(f'expected a JSON object, got '
                             f'{type(index).__name__}')
        lists = [index.get(name) for name in _LISTS]
        if not all(isinstance(v, list) for v in lists) or \
                len({len(v) for v in lists}) != 1:
            raise ValueError(f'fields {"/".join(_LISTS)} must be lists of '
                             'one length')
        _check_fields(index, len(index['keys']))
        seen: Dict[str, int] = {}
        for i in range(len(index['keys'])):
            _check_entry(index, i, seen)
    return index


def index_entries(index: dict, path: Path,
                  starts: List[np.ndarray]) -> Dict[str, Entry]:
    """Map each key of a checked index to its rows in the shards.

    Raises:
        ValueError: ``corrupt packed index {path}: ...`` when an entry
            points past its shard, two keys share an item, a shape does not
            match the item's rows, or an item belongs to no key.
    """
    entries: Dict[str, Entry] = {}
    owner: Dict[Tuple[int, int], str] = {}
    dim = index['dim']
    with decoding(f'packed index {path}'):
        for i, key in enumerate(index['keys']):
            shard, pos = index['shard'][i], index['pos'][i]
            shape = tuple(index['shapes'][i])
            where = f'key {key!r} (entry {i}): field'
            if pos >= len(starts[shard]) - 1:
                raise ValueError(f'{where} pos = {pos}, shard {shard} holds '
                                 f'{len(starts[shard]) - 1} items')
            if (shard, pos) in owner:
                raise ValueError(f'{where} shard/pos = {shard}/{pos}, the '
                                 f'item of key {owner[shard, pos]!r}')
            owner[shard, pos] = key
            start, end = (int(r) for r in starts[shard][pos:pos + 2])
            rows = int(np.prod(shape[:-1], dtype=np.int64))
            if rows != end - start:
                raise ValueError(
                    f'{where} shapes = {list(shape)}: needs {rows} rows of '
                    f'{dim}, shard {shard} item {pos} has {end - start}')
            entries[key] = Entry(shard, start, end, shape)
        for shard, offsets in enumerate(starts):
            for pos in range(len(offsets) - 1):
                if (shard, pos) not in owner:
                    raise ValueError(
                        f'shard {shard} item {pos} belongs to no key (the '
                        f'index lists {len(entries)} of '
                        f'{sum(len(s) - 1 for s in starts)} items)')
    return entries
