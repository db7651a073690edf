"""Reading the JSON annotation files: UTF-8 JSON (``.json``) or one JSON
object per line (``.jsonl``), with errors that name the file and the line
of an undecodable byte, invalid JSON or an object that repeats a key."""
import json
import os
from pathlib import Path
from typing import Any, Iterator, List, Tuple, Union

PathLike = Union[str, os.PathLike]


class _RepeatedKey(ValueError):
    """A JSON object names a key twice (``json`` would keep the last)."""


def _unique_keys(pairs: List[Tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _RepeatedKey(f'key {key!r} appears twice in one object')
    return obj


def _not_utf8(path: Path) -> ValueError:
    """The error for a file that is not UTF-8, naming the first bad byte's
    line."""
    data = path.read_bytes()
    try:
        data.decode('utf-8')
        return ValueError(f'{path}: not UTF-8 text')
    except UnicodeDecodeError as e:
        line = data.count(b'\n', 0, e.start) + 1
        return ValueError(
            f'{path}: line {line}: not UTF-8 text (byte '
            f'0x{data[e.start]:02x} at offset {e.start}: {e.reason}); save '
            'the file as UTF-8')


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f'annotation file {path} does not exist')


def read_json_file(path: PathLike) -> Any:
    """The content of a UTF-8 JSON annotation file.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: naming the file and the line of an undecodable byte,
            of invalid JSON, or of an object that repeats a key.
    """
    path = Path(path)
    _require_file(path)
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f'{path}: line {e.lineno}: invalid JSON ({e})') from None
    except _RepeatedKey as e:
        raise ValueError(f'{path}: {e}') from None


def _read_jsonl(path: Path) -> Iterator[Tuple[str, Any]]:
    try:
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, object_pairs_hook=_unique_keys)
                except _RepeatedKey as e:
                    raise ValueError(f'{path}: line {lineno}: {e}') from None
                except json.JSONDecodeError as e:
                    raise ValueError(f'{path}: line {lineno}: invalid JSON '
                                     f'({e})') from None
                yield f'line {lineno}', obj
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def read_raw(path: Path) -> Iterator[Tuple[str, Any]]:
    """Yield ``(location, decoded object)`` for a .jsonl or .json file."""
    _require_file(path)
    if path.suffix == '.jsonl':
        yield from _read_jsonl(path)
    elif path.suffix == '.json':
        data = read_json_file(path)
        if not isinstance(data, list):
            raise ValueError(f'{path}: a .json annotation file must hold a '
                             f'list of records, got {type(data).__name__}')
        for i, obj in enumerate(data):
            yield f'record #{i}', obj
    else:
        raise ValueError(f'{path}: unsupported annotation file type '
                         f"'{path.suffix}' (use .jsonl or .json)")
