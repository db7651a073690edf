"""Read the official HD-VILA annotation files with errors that name the file
and the line.

The official datasets read ``.jsonl`` (one JSON object per line) or, for
retrieval, ``.json`` (a list of objects). A bad line, a record that is not
an object or lacks a field, and an empty file are refused here naming the
file, the line (``.jsonl``) or record number (``.json``) and what is wrong;
the official code raises a bare ``JSONDecodeError`` / ``KeyError``.
"""
import json
import os
from pathlib import Path
from typing import Any, List, Tuple, Union

PathLike = Union[str, os.PathLike]


def read_records(path: PathLike, what: str) -> List[Tuple[str, int, dict]]:
    """The records of a ``.jsonl`` or ``.json`` annotation file.

    Args:
        path: the file.
        what (str): what it holds, for errors (``'MSR-VTT retrieval
            annotations'``).

    Returns:
        list[tuple]: ``(where, line, record)`` in file order: ``where`` is
        ``'<file> line <n>'`` (``.jsonl``, blank lines skipped and counted)
        or ``'<file> record #<i>'`` (``.json``), ``line`` the 1-based line
        or record number.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: invalid JSON (names the line), a record that is not an
            object, an unsupported suffix, or no record.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} file {path} does not exist')
    if path.suffix == '.jsonl':
        records = list(_jsonl(path))
    elif path.suffix == '.json':
        records = _json_list(path)
    else:
        raise ValueError(f'{what} file {path}: unsupported type '
                         f"'{path.suffix}' (use .jsonl or .json)")
    for where, _, record in records:
        if not isinstance(record, dict):
            raise ValueError(f'{where}: expected a JSON object, got '
                             f'{type(record).__name__}')
    if not records:
        raise ValueError(f'{what} file {path} holds no record')
    return records


def _jsonl(path: Path):
    with open(path, encoding='utf-8') as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text, strict=False)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f'{path} line {line}: invalid JSON ({e})') from None
            yield f'{path} line {line}', line, record


def _json_list(path: Path) -> List[Tuple[str, int, Any]]:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path} line {e.lineno}: invalid JSON ({e})') \
            from None
    if not isinstance(data, list):
        raise ValueError(f'{path}: expected a JSON list of records, got '
                         f'{type(data).__name__}')
    return [(f'{path} record #{i}', i, record)
            for i, record in enumerate(data)]


def field(record: dict, key: str, where: str, kind=None) -> Any:
    """``record[key]``, checked to be a ``kind`` (a type or tuple of types;
    ``bool`` is not an ``int`` here).

    Raises:
        ValueError: the field is missing or of another type (names
            ``where`` and the field).
    """
    if key not in record:
        raise ValueError(f'{where}: missing field {key!r} (fields: '
                         f'{sorted(record)})')
    value = record[key]
    if kind is None:
        return value
    kinds = kind if isinstance(kind, tuple) else (kind, )
    if not isinstance(value, kinds) or (isinstance(value, bool)
                                        and bool not in kinds):
        names = '/'.join(k.__name__ for k in kinds)
        raise ValueError(f'{where}: field {key!r} must be {names}, got '
                         f'{type(value).__name__} {value!r}')
    return value


def read_json_dict(path: PathLike, what: str) -> dict:
    """A JSON object file (the official answer vocabulary).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: invalid JSON or not an object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{what} file {path} does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{what} file {path} line {e.lineno}: invalid JSON '
                         f'({e})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{what} file {path}: expected a JSON object, got '
                         f'{type(data).__name__}')
    return data
