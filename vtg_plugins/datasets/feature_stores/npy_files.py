"""Checked reads of ``.npy`` / ``.npz`` data, shared by the store backends.

``np.load`` trusts the header of an ``.npy``: a truncated file fails with a
message that names no file, bytes after the data are ignored, and an
archive member that does not decompress raises ``zlib.error``. Here the
header is read first and checked against the bytes actually there, and
every decoding failure becomes a ``ValueError`` naming where the data came
from (:func:`decoding`: a file, an LMDB key, ...).
"""
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from typing import IO, Iterator, NamedTuple, Sequence, Tuple

import numpy as np

#: what numpy and zipfile raise on corrupt input
DECODE_ERRORS = (ValueError, TypeError, OSError, EOFError, SyntaxError,
                 tokenize.TokenError, zipfile.BadZipFile, zlib.error)
#: numpy dtype kinds a feature array may have (bool, int, uint, float)
NUMERIC_KINDS = 'biuf'
NPY_MAGIC = b'\x93NUMPY'
NPZ_MAGIC = b'PK'
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class NpyHeader(NamedTuple):
    """What an ``.npy`` header declares.

    Attributes:
        shape (tuple[int, ...]): array shape.
        dtype (np.dtype): element type.
        offset (int): bytes before the data (magic + header).
    """
    shape: Tuple[int, ...]
    dtype: np.dtype
    offset: int

    @property
    def data_bytes(self) -> int:
        """Bytes of data the header announces."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@contextmanager
def decoding(where: str) -> Iterator[None]:
    """Turn any decoding failure inside the block into ``ValueError('corrupt
    {where}: {reason}')``."""
    try:
        yield
    except DECODE_ERRORS as e:
        raise ValueError(f'corrupt {where}: {e}') from None


def read_npy_header(fp: IO[bytes], nbytes: int, label: str = '') -> NpyHeader:
    """Read the header at the position of ``fp`` and check it against
    ``nbytes``, the size of the whole ``.npy`` stream.

    Raises:
        ValueError: (reason prefixed by ``label``) for an unsupported
            version, an object array (needs pickles), or a stream shorter or
            longer than the header announces.
    """
    start = fp.tell()
    version = np.lib.format.read_magic(fp)
    if version not in _HEADER_READERS:
        raise ValueError(f'{label}unsupported .npy format version '
                         f'{version[0]}.{version[1]}')
    shape, _, dtype = _HEADER_READERS[version](fp)
    header = NpyHeader(tuple(shape), dtype, fp.tell() - start)
    if dtype.hasobject:
        raise ValueError(f'{label}holds a Python-object array ({dtype}), '
                         'which needs pickles; features are numeric arrays')
    held = nbytes - header.offset
    if held != header.data_bytes:
        problem = 'truncated' if held < header.data_bytes else (
            f'{held - header.data_bytes} stray bytes after the data')
        raise ValueError(
            f'{label}{problem}: the header declares {dtype} '
            f'{list(header.shape)} ({header.data_bytes} bytes of data), '
            f'the file holds {held}')
    return header


def load_npy(fp: IO[bytes], nbytes: int, label: str = '') -> np.ndarray:
    """Read a checked ``.npy`` stream of ``nbytes`` bytes from ``fp``."""
    start = fp.tell()
    read_npy_header(fp, nbytes, label)
    fp.seek(start)
    return np.lib.format.read_array(fp, allow_pickle=False)


def load_npz_array(fp: IO[bytes], names: Sequence[str],
                   single: bool) -> np.ndarray:
    """Read one array of an ``.npz`` archive: the first of ``names`` it
    holds or, when ``single``, its only array.

    Raises:
        ValueError: listing the arrays it holds when none fits.
    """
    with zipfile.ZipFile(fp) as archive:
        members = {n[:-len('.npy')]: n for n in archive.namelist()
                   if n.endswith('.npy')}
        name = next((n for n in names if n in members), None)
        if name is None and single and len(members) == 1:
            name = next(iter(members))
        if name is None:
            raise ValueError(f'the archive holds arrays {sorted(members)}, '
                             f'none of {list(names)}')
        info = archive.getinfo(members[name])
        with archive.open(info) as member:
            return load_npy(member, info.file_size, f'array {name!r}: ')


def load_array(fp: IO[bytes], nbytes: int, names: Sequence[str],
               single: bool) -> np.ndarray:
    """Read an ``.npy`` or ``.npz`` stream of ``nbytes`` bytes, told apart by
    their magic bytes (see :func:`load_npz_array` for ``names``, ``single``).

    Raises:
        ValueError: when the bytes are neither or do not decode; wrap the
            call in :func:`decoding` to name the source.
    """
    start = fp.tell()
    head = fp.read(len(NPY_MAGIC))
    fp.seek(start)
    if head.startswith(NPY_MAGIC):
        return load_npy(fp, nbytes)
    if head.startswith(NPZ_MAGIC):
        return load_npz_array(fp, names, single)
    raise ValueError('empty' if not head else
                     f'neither .npy nor .npz data (starts with {head!r})')
