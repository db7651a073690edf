"""Loaders of the official annotation formats of the shared datasets.

Each loader is registered in :data:`~vtg_plugins.registry.ANNOTATION_LOADERS`
under its format name and returns validated normalized records (see
:mod:`vtg_plugins.datasets.annotations`); fields the normalized record does
not model are kept verbatim in ``extra``. Errors name the file, the line (or
position) and the qid. A record's ``qid`` is the file's query id as a str;
``source_qid`` keeps it as the file typed it (QVHighlights' ints), for the
submission files.

Formats:

- ``'qvhighlights'``: Moment-DETR / QVHighlights jsonl
  (jayleicn/moment_detr ``data/highlight_{split}_release.jsonl``; R²-Tuning
  reads the same records as ``qvhighlights_{split}.jsonl``, and its
  Charades-STA, TACoS and Ego4D-NLQ files follow it without saliency):
  ``qid`` (int; str in some files), ``vid``, ``query``, ``duration``,
  ``relevant_windows``, ``relevant_clip_ids``, ``saliency_scores`` (per
  relevant clip, one score per annotator, 0-4). The test split has no GT
  fields. Option: ``clip_len`` (default 2 s).
- ``'ego4d_nlq_json'``: the nested official Ego4D ``nlq_{split}.json``
  (videos -> clips -> annotations -> language_queries). Option:
  ``clip_len`` (default :data:`EGO4D_CLIP_LEN`).
- ``'ego4d_nlq_jsonl'``: the same queries flattened to one per line
  (the layout houzhijian/GroundNLQ ``ego4d_data/reformat_data.py`` writes):
  ``query_id``, ``video_id`` (the clip uid), ``query``, ``duration``,
  ``query_type``, ``timestamps`` (absent on test). Option: ``clip_len``.
"""
import math
from pathlib import Path
from typing import Any, Iterator, List, Tuple

from mmengine.logging import print_log

from vtg_plugins.registry import ANNOTATION_LOADERS
from .annotations import (FieldError, GroundingRecord, PathLike, check_number,
                          check_source_id, check_text, read_records,
                          validate_record)
from .json_files import read_json_file

#: Ego4D NLQ features of GroundNLQ: stride 16.043 frames at 30 fps (1.87 fps).
EGO4D_CLIP_LEN = 16.043 / 30

_QVH_FIELDS = ('qid', 'vid', 'query', 'duration', 'relevant_windows',
               'relevant_clip_ids', 'saliency_scores')


def _list(raw: dict, name: str) -> list:
    value = raw[name]
    if not isinstance(value, list):
        raise FieldError(f"field '{name}' must be a list, got "
                         f'{type(value).__name__} {value!r}')
    return value


def _gt_windows(raw: dict, name: str) -> list:
    """The ground-truth windows ``raw[name]`` of an official format, or []
    for an unannotated (test) record without the field."""
    if name not in raw:
        return []
    windows = _list(raw, name)
    if not windows:
        raise FieldError(f"field '{name}' is empty: a record with ground "
                         'truth has at least one window')
    return windows


def _qvh_saliency(raw: dict, num_clips: int) -> list:
    """Dense ``[num_clips, num_annotators]`` scores of a QVHighlights record
    (zeros outside ``relevant_clip_ids``)."""
    ids = _list(raw, 'relevant_clip_ids')
    scores = _list(raw, 'saliency_scores')
    if len(ids) != len(scores):
        raise FieldError(f"field 'saliency_scores' has {len(scores)} rows "
                         f"but 'relevant_clip_ids' has {len(ids)}")
    for i, row in enumerate(scores):
        if not isinstance(row, list) or not row:
            raise FieldError(f"field 'saliency_scores[{i}]' must be a "
                             f'non-empty list of scores, got {row!r}')
    width = len(scores[0]) if scores else 3
    saliency = [[0] * width for _ in range(num_clips)]
    seen = set()
    for cid, row in zip(ids, scores):
        is_int = isinstance(cid, int) and not isinstance(cid, bool)
        if not (is_int and 0 <= cid < num_clips):
            raise FieldError(f"field 'relevant_clip_ids': clip {cid!r} "
                             f'outside [0, {num_clips})')
        if cid in seen:
            raise FieldError(f"field 'relevant_clip_ids': clip {cid} "
                             'appears twice')
        seen.add(cid)
        saliency[cid] = row
    return saliency


def qvhighlights_to_record(raw: dict, clip_len: float = 2.0) -> dict:
    """QVHighlights record -> normalized dict.

    ``saliency`` becomes the dense ``[num_clips, num_annotators]`` matrix
    (zeros outside ``relevant_clip_ids``); ``relevant_clip_ids`` is kept in
    ``extra`` because a relevant clip may score 0 from every annotator. A
    record without ``relevant_windows`` (an unannotated test record) must
    have no other ground-truth field either.
    """
    qid = check_source_id(raw['qid'], 'qid')
    duration = check_number(raw['duration'], 'duration')
    if duration <= 0:  # before the clip count of the saliency is taken
        raise FieldError(f"field 'duration' must be > 0, got {duration}")
    gt = [k for k in ('relevant_clip_ids', 'saliency_scores') if k in raw]
    if gt and 'relevant_windows' not in raw:
        raise FieldError(f"missing field 'relevant_windows' (the record has "
                         f'the ground truth {gt})')
    saliency = None
    if 'saliency_scores' in raw:
        saliency = _qvh_saliency(raw, math.ceil(duration / clip_len - 1e-6))
    extra = {k: v for k, v in raw.items() if k not in _QVH_FIELDS}
    if 'relevant_clip_ids' in raw:
        extra['relevant_clip_ids'] = raw['relevant_clip_ids']
    return dict(
        qid=str(qid),
        source_qid=qid,
        vid=raw['vid'],
        query=raw['query'],
        duration=duration,
        windows=_gt_windows(raw, 'relevant_windows'),
        clip_len=clip_len,
        saliency=saliency,
        extra=extra)


def ego4d_nlq_jsonl_to_record(raw: dict,
                              clip_len: float = EGO4D_CLIP_LEN) -> dict:
    """GroundNLQ Ego4D NLQ jsonl record -> normalized dict (``query_id``,
    a str, is the qid)."""
    mapped = ('query_id', 'video_id', 'query', 'duration', 'timestamps')
    return dict(
        qid=raw['query_id'],
        vid=raw['video_id'],
        query=raw['query'],
        duration=check_number(raw['duration'], 'duration'),
        windows=_gt_windows(raw, 'timestamps'),
        clip_len=clip_len,
        saliency=None,
        extra={k: v
               for k, v in raw.items() if k not in mapped})


class _GroundTruthThroughout:
    """Checks, record by record, that every record of a file has ground
    truth or none has: the official unannotated test splits have none, and
    a record of an annotated split without it has nothing to train or be
    evaluated on.

    Args:
        what (str): the ground truth, for messages (e.g. ``"field
            'timestamps'"``).
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.first = {}  # has ground truth -> qid of the first such record

    def __call__(self, has: bool, qid: Any) -> None:
        self.first.setdefault(has, qid)
        if len(self.first) < 2:
            return
        if has:
            raise FieldError(
                f'has {self.what} (ground truth), which the records before '
                f'it lack (first: qid {self.first[False]!r}); an annotated '
                'split needs it in every record')
        raise FieldError(
            f'lacks {self.what} (ground truth), which the records before it '
            f'have (first: qid {self.first[True]!r}); only an unannotated '
            'test split lacks it, in every record')


@ANNOTATION_LOADERS.register_module(name='qvhighlights')
def load_qvhighlights(path: PathLike,
                      window_policy: str = 'error',
                      tolerance: float = 1e-3,
                      clip_len: float = 2.0) -> List[GroundingRecord]:
    """QVHighlights-style jsonl, see :func:`qvhighlights_to_record`; every
    record has ``relevant_windows``, or none (the official test split)."""
    throughout = _GroundTruthThroughout("field 'relevant_windows'")

    def convert(raw: dict) -> dict:
        throughout('relevant_windows' in raw, raw.get('qid'))
        return qvhighlights_to_record(raw, clip_len)

    return read_records(path, convert, window_policy, tolerance)


@ANNOTATION_LOADERS.register_module(name='ego4d_nlq_jsonl')
def load_ego4d_nlq_jsonl(path: PathLike,
                         window_policy: str = 'error',
                         tolerance: float = 1e-3,
                         clip_len: float = EGO4D_CLIP_LEN
                         ) -> List[GroundingRecord]:
    """Flattened Ego4D NLQ jsonl, see :func:`ego4d_nlq_jsonl_to_record`;
    every record has ``timestamps``, or none (the test split)."""
    throughout = _GroundTruthThroughout("field 'timestamps'")

    def convert(raw: dict) -> dict:
        throughout('timestamps' in raw, raw.get('query_id'))
        return ego4d_nlq_jsonl_to_record(raw, clip_len)

    return read_records(path, convert, window_policy, tolerance)


def _children(parent: Any, key: str, where: str) -> list:
    """``parent[key]``, a list, of the nested Ego4D NLQ json."""
    if not isinstance(parent, dict):
        raise FieldError(f'{where} must be an object, got '
                         f'{type(parent).__name__}')
    if key not in parent:
        raise FieldError(f"{where} has no field '{key}'")
    if not isinstance(parent[key], list):
        raise FieldError(f"{where}.{key} must be a list, got "
                         f'{type(parent[key]).__name__}')
    return parent[key]


def _nlq_queries(
        data: Any) -> Iterator[Tuple[str, dict, dict, dict, int, dict]]:
    """Yield ``(where, video, clip, annotation, query_idx, query)`` for every
    language query of a nested Ego4D NLQ json."""
    for v, video in enumerate(_children(data, 'videos', 'the file')):
        for c, clip in enumerate(_children(video, 'clips', f'videos[{v}]')):
            at = f'videos[{v}].clips[{c}]'
            for a, ann in enumerate(_children(clip, 'annotations', at)):
                at_a = f'{at}.annotations[{a}]'
                for i, q in enumerate(
                        _children(ann, 'language_queries', at_a)):
                    where = f'{at_a}.language_queries[{i}]'
                    if not isinstance(q, dict):
                        raise FieldError(f'{where} must be an object, got '
                                         f'{type(q).__name__}')
                    yield where, video, clip, ann, i, q


def _nlq_record(video: dict, clip: dict, annotation_uid: str, qid: str,
                q: dict, clip_len: float) -> dict:
    """A language query of the nested Ego4D NLQ json as a normalized dict
    (no window on the unannotated test split)."""
    annotated = 'clip_start_sec' in q or 'clip_end_sec' in q
    windows = [[q['clip_start_sec'], q['clip_end_sec']]] if annotated else []
    start = check_number(clip['video_start_sec'], 'video_start_sec')
    end = check_number(clip['video_end_sec'], 'video_end_sec')
    return dict(
        qid=qid,
        vid=clip['clip_uid'],
        query=q['query'],
        duration=end - start,
        windows=windows,
        clip_len=clip_len,
        extra=dict(
            video_uid=video.get('video_uid'),
            annotation_uid=annotation_uid,
            template=q.get('template')))


@ANNOTATION_LOADERS.register_module(name='ego4d_nlq_json')
def load_ego4d_nlq_json(path: PathLike,
                        window_policy: str = 'keep',
                        tolerance: float = 1e-3,
                        clip_len: float = EGO4D_CLIP_LEN
                        ) -> List[GroundingRecord]:
    """Read an official Ego4D ``nlq_{split}.json`` as normalized records.

    As GroundNLQ ``reformat_data.py`` flattens it: one record per language
    query with text, ``qid = f'{annotation_uid}_{i}'`` (i = index in
    ``language_queries``, counting skipped ones, so every record maps back
    to the EvalAI key ``(clip_uid, annotation_uid, query_idx)``), ``vid`` =
    clip uid, ``duration = video_end_sec - video_start_sec`` of the clip and
    the window ``[clip_start_sec, clip_end_sec]`` of the query.
    ``window_policy`` defaults to ``'keep'``: the official val split has
    windows past the clip end, and the official evaluation keeps them.
    Every query of the file has a window, or none does
    (``nlq_test_unannotated.json``).

    Queries without text (``query`` absent, null or ``''``; two in the
    official val split) get no record: the official code neither predicts
    them nor, as the evaluator divides by the number of submitted records,
    counts them. How many were skipped, and which
    (``'{clip_uid}/{annotation_uid}_{i}'``), is logged.

    Raises:
        ValueError: naming the file, the position in it
            (``videos[v].clips[c].annotations[a].language_queries[i]``) and
            the qid; also for a file without any query with text.
    """
    path = Path(path)
    try:
        queries = list(_nlq_queries(read_json_file(path)))
    except FieldError as e:
        raise ValueError(f'{path}: {e}') from None
    records, seen, textless = [], set(), []
    throughout = _GroundTruthThroughout(
        "a window ('clip_start_sec', 'clip_end_sec')")
    for where, video, clip, ann, i, q in queries:
        qid = None
        try:
            uid = check_text(ann.get('annotation_uid'), 'annotation_uid')
            qid = f'{uid}_{i}'
            if not q.get('query'):
                textless.append(f"{clip.get('clip_uid')}/{qid}")
                continue
            throughout('clip_start_sec' in q or 'clip_end_sec' in q, qid)
            rec = validate_record(
                _nlq_record(video, clip, uid, qid, q, clip_len),
                window_policy, tolerance)
        except (KeyError, TypeError, ValueError) as e:
            what = (f'missing field {e}' if isinstance(e, KeyError) else
                    str(e))
            raise ValueError(f'{path}: {where}: qid {qid!r}: {what}') from None
        if qid in seen:
            raise ValueError(f'{path}: {where}: qid {qid!r}: duplicate qid')
        seen.add(qid)
        records.append(rec)
    if textless:
        print_log(
            f'{path}: skipped {len(textless)} language '
            f'quer{"y" if len(textless) == 1 else "ies"} without text '
            f'(as the official reformat_data.py; they are neither predicted '
            f'nor counted by the official evaluator): {textless[:10]}',
            logger='current')
    if not records:
        skipped = f' ({len(textless)} without text)' if textless else ''
        raise ValueError(f'{path}: the file holds no language query with '
                         f'text{skipped}')
    return records
