"""The normalized grounding annotation record and its validating loader.

One record per query (docs/data_contracts.md)::

    {"qid": str, "vid": str, "query": str, "duration": float seconds,
     "windows": [[start_s, end_s], ...],          # empty: highlight-only
     "saliency": [[a1, a2, ...] per clip] | null, # per-annotator scores
     "clip_len": float seconds, "extra": {...},   # dataset-specific fields
     "source_qid": int | str}                     # optional, default qid

``qid`` is the key everything internal uses (dedupe, feature stores,
messages); ``source_qid`` is the same id as the source annotation file typed
it (``str(source_qid) == qid``), the one a submission file carries so that
an official evaluator finds it in that file: QVHighlights' integer qids stay
integers.

:func:`load_grounding_annotations` reads an annotation file with the loader
that :data:`~vtg_plugins.registry.ANNOTATION_LOADERS` holds for its format:
``'normalized'`` (here: ``.jsonl``, one record per line, or ``.json``, a
list of records) or an official format (the shared ones are in
:mod:`vtg_plugins.datasets.ann_formats`; a project registers its own the
same way). Every record is validated; a bad record raises
:class:`ValueError` naming the file, the line (or list index), the qid and
the field. So is the file: it must be UTF-8 JSON (an undecodable byte is
reported with its line), no object may repeat a key, and a file without
records is refused.

A loader is a function ``(path, window_policy, tolerance, **options) ->
list[GroundingRecord]`` registered under its format name::

    @ANNOTATION_LOADERS.register_module(name='my_format')
    def load_my_format(path, window_policy='error', tolerance=1e-3):
        return read_records(path, my_record_to_normalized, window_policy,
                            tolerance)
"""
import inspect
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from vtg_plugins.registry import ANNOTATION_LOADERS
from vtg_plugins.utils.io import atomic_write_text
from .json_files import PathLike, read_json_file, read_raw

__all__ = [
    'GroundingRecord', 'FieldError', 'PathLike', 'check_number', 'check_text',
    'check_source_id', 'validate_record', 'read_json_file', 'read_records',
    'load_normalized', 'load_grounding_annotations',
    'dump_grounding_annotations'
]

WINDOW_POLICIES = ('error', 'clip', 'keep')
REQUIRED_FIELDS = ('qid', 'vid', 'query', 'duration', 'windows', 'clip_len')
OPTIONAL_FIELDS = ('saliency', 'extra', 'source_qid')


@dataclass
class GroundingRecord:
    """One query of a grounding dataset, in the normalized format.

    Attributes:
        qid (str): query id, unique within a file.
        vid (str): video id (the feature-store key of the video).
        query (str): the natural-language query.
        duration (float): video duration in seconds.
        windows (list[list[float]]): ``[N, 2]`` ground-truth moments
            ``[start_s, end_s]``; empty for highlight-only data.
        clip_len (float): feature clip length in seconds.
        saliency (list[list[float]] | None): ``[num_clips, num_annotators]``
            per-clip scores, or None where the dataset has none.
        extra (dict): dataset-specific fields kept verbatim.
        source_qid (int | str): the query id as the source annotation file
            typed it (an int in QVHighlights files), ``str(source_qid) ==
            qid``; written into submission files. Defaults to ``qid``.
    """
    qid: str
    vid: str
    query: str
    duration: float
    windows: List[List[float]]
    clip_len: float
    saliency: Optional[List[List[float]]] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    source_qid: Union[int, str, None] = None

    def __post_init__(self) -> None:
        if self.source_qid is None:
            self.source_qid = self.qid

    def to_dict(self) -> dict:
        """The record as a JSON-serialisable dict."""
        return asdict(self)


class FieldError(ValueError):
    """A field failed validation (the message names the field); raised by
    the field checks below, which format converters use too."""


def check_number(value: Any, name: str) -> float:
    """``value`` as a float; raises :class:`FieldError` naming ``name``
    unless it is a finite JSON number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"field '{name}' must be a number, got "
                         f'{type(value).__name__} {value!r}')
    if not math.isfinite(value):
        raise FieldError(f"field '{name}' must be finite, got {value!r}")
    return float(value)


def check_text(value: Any, name: str) -> str:
    """``value`` if it is a str with at least one non-blank character;
    raises :class:`FieldError` naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise FieldError(f"field '{name}' must be a str, got "
                         f'{type(value).__name__} {value!r}')
    if not value.strip():
        raise FieldError(f"field '{name}' must not be empty or blank, got "
                         f'{value!r}')
    return value


def check_source_id(value: Any, name: str) -> Union[int, str]:
    """``value`` if it is an int or a non-blank str, the two types of query
    ids in the official annotation files; raises :class:`FieldError` naming
    ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldError(f"field '{name}' must be an int or a str, got "
                         f'{type(value).__name__} {value!r}')
    if isinstance(value, str):
        check_text(value, name)
    return value


def _source_qid(value: Any, qid: str) -> Union[int, str]:
    value = check_source_id(value, 'source_qid')
    if str(value) != qid:
        raise FieldError(f"field 'source_qid' {value!r} is not the qid "
                         f'{qid!r} as typed in the source file (str('
                         'source_qid) must equal qid)')
    return value


def _windows(value: Any, duration: float, policy: str,
             tolerance: float) -> List[List[float]]:
    if not isinstance(value, list):
        raise FieldError("field 'windows' must be a list of [start, end] "
                         f'pairs, got {type(value).__name__}')
    out = []
    for i, win in enumerate(value):
        name = f'windows[{i}]'
        if not isinstance(win, (list, tuple)) or len(win) != 2:
            raise FieldError(f"field '{name}' must be a [start, end] pair, "
                             f'got {win!r}')
        start, end = (check_number(v, name) for v in win)
        if start > end:
            raise FieldError(f"field '{name}': start {start} > end {end}")
        if start < -tolerance or end > duration + tolerance:
            # with no part inside the video no policy makes it a target
            outside = min(end, duration) <= max(start, 0.)
            if outside or policy == 'error':
                raise FieldError(
                    f"field '{name}': [{start}, {end}] lies "
                    f"{'entirely ' if outside else ''}outside [0, duration="
                    f'{duration}] (tolerance {tolerance}s)')
        if policy == 'clip':  # also what lies within the tolerance
            start = min(max(start, 0.), duration)
            end = max(min(end, duration), 0.)
        out.append([start, end])
    return out


def _saliency(value: Any, duration: float,
              clip_len: float) -> Optional[List[List[float]]]:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise FieldError(
            "field 'saliency' must be null or a non-empty list of "
            'per-clip score lists')
    width = None
    for i, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise FieldError(f"field 'saliency[{i}]' must be a non-empty list "
                             f'of per-annotator scores, got {row!r}')
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise FieldError(f"field 'saliency[{i}]' has {len(row)} scores, "
                             f'row 0 has {width}')
        for v in row:
            check_number(v, f'saliency[{i}]')
    clips = duration / clip_len
    lo, hi = math.floor(clips + 1e-6), math.ceil(clips - 1e-6)
    if not lo <= len(value) <= hi:
        raise FieldError(f"field 'saliency' has {len(value)} clips, expected "
                         f'{lo}..{hi} (duration {duration}s / clip_len '
                         f'{clip_len}s)')
    return [[float(v) for v in row] for row in value]


def validate_record(raw: Any,
                    window_policy: str = 'error',
                    tolerance: float = 1e-3) -> GroundingRecord:
    """Validate one normalized record and return it as a dataclass.

    Args:
        raw (dict): the decoded JSON object.
        window_policy (str): what to do with a window outside
            ``[0, duration]`` (beyond ``tolerance``): ``'error'`` raises,
            ``'clip'`` clamps it to the video, ``'keep'`` keeps it as is
            (Ego4D NLQ val has windows past the clip end that the official
            metric keeps). ``start > end``, and a window with no part
            inside the video, are errors under every policy.
        tolerance (float): seconds a window may exceed the video bounds.

    Raises:
        ValueError: the message names the field and what is wrong.
    """
    if window_policy not in WINDOW_POLICIES:
        raise ValueError(f'window_policy must be one of {WINDOW_POLICIES}, '
                         f'got {window_policy!r}')
    try:
        if not isinstance(raw, dict):
            raise FieldError('record must be a JSON object, got '
                             f'{type(raw).__name__}')
        missing = [k for k in REQUIRED_FIELDS if k not in raw]
        if missing:
            raise FieldError(f'missing field(s) {missing}')
        unknown = sorted(set(raw) - set(REQUIRED_FIELDS + OPTIONAL_FIELDS))
        if unknown:
            raise FieldError(f'unknown field(s) {unknown}; dataset-specific '
                             "fields belong in 'extra'")
        duration = check_number(raw['duration'], 'duration')
        if duration <= 0:
            raise FieldError(f"field 'duration' must be > 0, got {duration}")
        clip_len = check_number(raw['clip_len'], 'clip_len')
        if clip_len <= 0:
            raise FieldError(f"field 'clip_len' must be > 0, got {clip_len}")
        extra = raw.get('extra', {})
        if not isinstance(extra, dict):
            raise FieldError("field 'extra' must be an object, got "
                             f'{type(extra).__name__}')
        qid = check_text(raw['qid'], 'qid')
        return GroundingRecord(
            qid=qid,
            vid=check_text(raw['vid'], 'vid'),
            query=check_text(raw['query'], 'query'),
            duration=duration,
            windows=_windows(raw['windows'], duration, window_policy,
                             tolerance),
            clip_len=clip_len,
            saliency=_saliency(raw.get('saliency'), duration, clip_len),
            extra=extra,
            source_qid=_source_qid(raw.get('source_qid', qid), qid))
    except FieldError as e:
        raise ValueError(str(e)) from None


def read_records(path: PathLike,
                 convert: Optional[Callable[[dict], dict]] = None,
                 window_policy: str = 'error',
                 tolerance: float = 1e-3) -> List[GroundingRecord]:
    """Read a ``.jsonl`` / ``.json`` file of one record per query.

    Args:
        path: a ``.jsonl`` file (one record per line; blank lines skipped)
            or a ``.json`` file holding a list of records.
        convert (callable, optional): maps each decoded record (a dict) of
            an official format to a normalized dict (``KeyError`` /
            ``ValueError`` / ``TypeError`` name what is wrong); None for
            normalized records.
        window_policy (str): ``'error'`` | ``'clip'`` | ``'keep'``, see
            :func:`validate_record`.
        tolerance (float): seconds a window may exceed ``[0, duration]``.

    Returns:
        list[GroundingRecord]: the records in file order.

    Raises:
        ValueError: ``"{file}: line {n}: qid {qid!r}: {what is wrong}"``
            for the first bad record or a duplicated qid; a file that is
            not UTF-8 JSON (naming the line) or holds no record.
    """
    path = Path(path)
    records, seen = [], {}
    for where, raw in read_raw(path):
        qid = raw.get('qid', raw.get('query_id')) if isinstance(raw,
                                                                dict) else None
        try:
            if convert is not None:
                if not isinstance(raw, dict):
                    raise FieldError('record must be a JSON object, got '
                                     f'{type(raw).__name__}')
                raw = convert(raw)
            rec = validate_record(raw, window_policy, tolerance)
        except (ValueError, KeyError, TypeError) as e:
            what = (f"missing field {e}"
                    if isinstance(e, KeyError) else str(e))
            raise ValueError(f'{path}: {where}: qid {qid!r}: {what}') from None
        if rec.qid in seen:
            raise ValueError(f'{path}: {where}: qid {rec.qid!r}: duplicate '
                             f'qid, first seen at {seen[rec.qid]}')
        seen[rec.qid] = where
        records.append(rec)
    if not records:
        raise ValueError(f'{path}: the annotation file holds no record')
    return records


@ANNOTATION_LOADERS.register_module(name='normalized')
def load_normalized(path: PathLike,
                    window_policy: str = 'error',
                    tolerance: float = 1e-3) -> List[GroundingRecord]:
    """Normalized records (``.jsonl`` or ``.json``), see :func:`read_records`.
    """
    return read_records(path, None, window_policy, tolerance)


def load_grounding_annotations(path: PathLike,
                               fmt: str = 'normalized',
                               window_policy: str = 'error',
                               tolerance: float = 1e-3,
                               **fmt_kwargs) -> List[GroundingRecord]:
    """Load and validate a grounding annotation file of any registered
    format.

    Args:
        path: the annotation file.
        fmt (str): a format of
            :data:`~vtg_plugins.registry.ANNOTATION_LOADERS`:
            ``'normalized'``, or e.g. ``'qvhighlights'``,
            ``'ego4d_nlq_jsonl'``, ``'ego4d_nlq_json'``.
        window_policy (str): ``'error'`` | ``'clip'`` | ``'keep'``, see
            :func:`validate_record`.
        tolerance (float): seconds a window may exceed ``[0, duration]``.
        **fmt_kwargs: options of the format's loader (e.g. ``clip_len``).

    Returns:
        list[GroundingRecord]: the records in file order.

    Raises:
        ValueError: for an unknown format or option, or naming the file,
            line / position, qid and field of the first bad record.
    """
    loader = ANNOTATION_LOADERS.get(fmt)
    if loader is None:
        raise ValueError(f'{path}: unknown annotation format {fmt!r}; known: '
                         f'{sorted(ANNOTATION_LOADERS.module_dict)}')
    params = inspect.signature(loader).parameters
    unknown = sorted(set(fmt_kwargs) - set(params))
    if unknown:
        options = [
            p for p in params
            if p not in ('path', 'window_policy', 'tolerance')
        ]
        raise ValueError(f'{path}: annotation format {fmt!r} has no '
                         f'option(s) {unknown}; its options: {options}')
    return loader(
        path, window_policy=window_policy, tolerance=tolerance, **fmt_kwargs)


def dump_grounding_annotations(records: List[GroundingRecord],
                               path: PathLike) -> None:
    """Write records as normalized ``.jsonl``, atomically (temp + rename)."""
    lines = [json.dumps(r.to_dict(), ensure_ascii=False) for r in records]
    atomic_write_text(path, '\n'.join(lines) + '\n')
