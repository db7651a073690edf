"""Check an LMDB ``data.mdb`` before it is memory-mapped.

LMDB maps the whole file and trusts it: pages past the end of a truncated
file (an interrupted copy or download) are touched as memory, and the
kernel kills the process with SIGBUS, no Python error and no message. The
two meta pages at the head of the file record the page size and the last
page in use; they are read here with plain file reads and the file size is
compared with what they record.

Layout read (LMDB 0.9, 64-bit builds; ``mdb.c``): page ``i`` of the two
meta pages starts at ``i * page_size`` with a 16-byte page header followed
by ``MDB_meta``: ``mm_magic`` (u32 ``0xBEEFC0DE``), ``mm_version`` (u32),
``mm_address``, ``mm_mapsize`` (u64 each), ``mm_dbs[2]`` (48 bytes each,
``mm_dbs[0].md_pad`` holds the page size), ``mm_last_pg``, ``mm_txnid``
(u64 each). The meta with the larger ``mm_txnid`` is current.
"""
import os
import struct
from pathlib import Path
from typing import NamedTuple

_MAGIC = 0xBEEFC0DE
_PAGE_HEADER = 16
_DB_RECORD = 48
_META_BYTES = _PAGE_HEADER + 24 + 2 * _DB_RECORD + 16


class LMDBMeta(NamedTuple):
    """One meta page: ``page_size``, ``last_page`` (0-based) and ``txnid``."""
    page_size: int
    last_page: int
    txnid: int


def _read_meta(head: bytes, offset: int, order: str) -> LMDBMeta:
    magic, = struct.unpack_from(order + 'I', head, offset + _PAGE_HEADER)
    if magic != _MAGIC:
        raise ValueError(f'no LMDB meta page at byte {offset}')
    dbs = offset + _PAGE_HEADER + 24
    page_size, = struct.unpack_from(order + 'I', head, dbs)
    last_page, txnid = struct.unpack_from(order + 'QQ', head,
                                          dbs + 2 * _DB_RECORD)
    return LMDBMeta(page_size, last_page, txnid)


def _byte_order(head: bytes) -> str:
    for order in '<>':
        if struct.unpack_from(order + 'I', head, _PAGE_HEADER)[0] == _MAGIC:
            return order
    raise ValueError('not an LMDB file (no LMDB magic number in its first '
                     'page; a 64-bit LMDB data file was expected)')


def check_lmdb_file(path: Path, store: Path) -> None:
    """Refuse a ``data.mdb`` smaller than the pages its header records.

    Args:
        path: the ``data.mdb`` file.
        store: the store root, named in errors.

    Raises:
        ValueError: naming the store and the file when it is not an LMDB
            file or is truncated.
    """
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(_META_BYTES)
        try:
            if len(head) < _META_BYTES:
                raise ValueError(f'{size} bytes, too short for an LMDB meta '
                                 'page')
            order = _byte_order(head)
            first = _read_meta(head, 0, order)
            if not (first.page_size & (first.page_size - 1) == 0
                    and 512 <= first.page_size <= 1 << 16):
                raise ValueError(f'meta page records page size '
                                 f'{first.page_size}')
            f.seek(first.page_size)
            second_head = f.read(_META_BYTES)
            if len(second_head) < _META_BYTES:
                raise ValueError(f'truncated: {size} bytes, the second meta '
                                 f'page starts at byte {first.page_size}')
            second = _read_meta(second_head, 0, order)
        except (ValueError, struct.error) as e:
            raise ValueError(f'LMDB feature store {store}: corrupt {path}: '
                             f'{e}') from None
    meta = max(first, second, key=lambda m: m.txnid)
    needed = (meta.last_page + 1) * first.page_size
    if size < needed:
        raise ValueError(
            f'LMDB feature store {store}: {path} is truncated: its header '
            f'records {meta.last_page + 1} pages of {first.page_size} bytes '
            f'({needed} bytes), the file has {size} (an interrupted copy or '
            'download?); reading it would crash the process (SIGBUS)')
