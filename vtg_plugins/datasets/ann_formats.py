"""Loaders of the official annotation formats of the shared datasets.

Each loader is registered in :data:`~vtg_plugins.registry.ANNOTATION_LOADERS`
under its format name and returns validated normalized records (see
:mod:`vtg_plugins.datasets.annotations`); fields the normalized record does
not model are kept verbatim in ``extra``. Errors name the file, the line (or
position) and the qid.

Formats:

- ``'qvhighlights'``: Moment-DETR / QVHighlights jsonl
  (jayleicn/moment_detr ``data/highlight_{split}_release.jsonl``; R²-Tuning
  reads the same records as ``qvhighlights_{split}.jsonl``, and its
  Charades-STA, TACoS and Ego4D-NLQ files follow it without saliency):
  ``qid`` (int), ``vid``, ``query``, ``duration``, ``relevant_windows``,
  ``relevant_clip_ids``, ``saliency_scores`` (per relevant clip, one score
  per annotator, 0-4). The test split has no GT fields. Option:
  ``clip_len`` (default 2 s).
- ``'ego4d_nlq_json'``: the nested official Ego4D ``nlq_{split}.json``
  (videos -> clips -> annotations -> language_queries). Option:
  ``clip_len`` (default :data:`EGO4D_CLIP_LEN`).
- ``'ego4d_nlq_jsonl'``: the same queries flattened to one per line
  (the layout houzhijian/GroundNLQ ``ego4d_data/reformat_data.py`` writes):
  ``query_id``, ``video_id`` (the clip uid), ``query``, ``duration``,
  ``query_type``, ``timestamps`` (absent on test). Option: ``clip_len``.
"""
import json
import math
from functools import partial
from pathlib import Path
from typing import List

from mmengine.logging import print_log

from vtg_plugins.registry import ANNOTATION_LOADERS
from .annotations import (GroundingRecord, PathLike, read_records,
                          validate_record)

#: Ego4D NLQ features of GroundNLQ: stride 16.043 frames at 30 fps (1.87 fps).
EGO4D_CLIP_LEN = 16.043 / 30

_QVH_FIELDS = ('qid', 'vid', 'query', 'duration', 'relevant_windows',
               'relevant_clip_ids', 'saliency_scores')


def qvhighlights_to_record(raw: dict, clip_len: float = 2.0) -> dict:
    """QVHighlights record -> normalized dict.

    ``saliency`` becomes the dense ``[num_clips, num_annotators]`` matrix
    (zeros outside ``relevant_clip_ids``); ``relevant_clip_ids`` is kept in
    ``extra`` because a relevant clip may score 0 from every annotator.
    """
    duration = float(raw['duration'])
    saliency = None
    if 'saliency_scores' in raw:
        ids, scores = raw['relevant_clip_ids'], raw['saliency_scores']
        if len(ids) != len(scores):
            raise ValueError(f"field 'saliency_scores' has {len(scores)} rows "
                             f"but 'relevant_clip_ids' has {len(ids)}")
        num_clips = math.ceil(duration / clip_len - 1e-6)
        width = len(scores[0]) if scores else 3
        saliency = [[0] * width for _ in range(num_clips)]
        for cid, row in zip(ids, scores):
            if not (isinstance(cid, int) and 0 <= cid < num_clips):
                raise ValueError(f"field 'relevant_clip_ids': clip {cid!r} "
                                 f'outside [0, {num_clips})')
            saliency[cid] = row
    extra = {k: v for k, v in raw.items() if k not in _QVH_FIELDS}
    if 'relevant_clip_ids' in raw:
        extra['relevant_clip_ids'] = raw['relevant_clip_ids']
    return dict(
        qid=str(raw['qid']),
        vid=raw['vid'],
        query=raw['query'],
        duration=duration,
        windows=raw.get('relevant_windows', []),
        clip_len=clip_len,
        saliency=saliency,
        extra=extra)


def ego4d_nlq_jsonl_to_record(raw: dict,
                              clip_len: float = EGO4D_CLIP_LEN) -> dict:
    """GroundNLQ Ego4D NLQ jsonl record -> normalized dict."""
    mapped = ('query_id', 'video_id', 'query', 'duration', 'timestamps')
    return dict(
        qid=raw['query_id'],
        vid=raw['video_id'],
        query=raw['query'],
        duration=float(raw['duration']),
        windows=raw.get('timestamps', []),
        clip_len=clip_len,
        saliency=None,
        extra={k: v
               for k, v in raw.items() if k not in mapped})


@ANNOTATION_LOADERS.register_module(name='qvhighlights')
def load_qvhighlights(path: PathLike,
                      window_policy: str = 'error',
                      tolerance: float = 1e-3,
                      clip_len: float = 2.0) -> List[GroundingRecord]:
    """QVHighlights-style jsonl, see :func:`qvhighlights_to_record`."""
    return read_records(path, partial(qvhighlights_to_record,
                                      clip_len=clip_len), window_policy,
                        tolerance)


@ANNOTATION_LOADERS.register_module(name='ego4d_nlq_jsonl')
def load_ego4d_nlq_jsonl(path: PathLike,
                         window_policy: str = 'error',
                         tolerance: float = 1e-3,
                         clip_len: float = EGO4D_CLIP_LEN
                         ) -> List[GroundingRecord]:
    """Flattened Ego4D NLQ jsonl, see :func:`ego4d_nlq_jsonl_to_record`."""
    return read_records(path, partial(ego4d_nlq_jsonl_to_record,
                                      clip_len=clip_len), window_policy,
                        tolerance)


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

    Queries without text (two in the official val split) get no record: the
    official code neither predicts them nor, as the evaluator divides by the
    number of submitted records, counts them. How many were skipped, and
    which (``'{clip_uid}/{annotation_uid}_{i}'``), is logged.

    Raises:
        ValueError: naming the file, the clip/annotation position and qid.
    """
    path = Path(path)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: cannot read Ego4D NLQ json ({e})') from None
    records, seen, textless = [], set(), []
    for v, video in enumerate(data.get('videos', [])):
        for c, clip in enumerate(video.get('clips', [])):
            for a, ann in enumerate(clip.get('annotations', [])):
                for i, q in enumerate(ann.get('language_queries', [])):
                    qid = f"{ann.get('annotation_uid')}_{i}"
                    if not q.get('query'):
                        textless.append(f"{clip.get('clip_uid')}/{qid}")
                        continue
                    where = (f'videos[{v}].clips[{c}].annotations[{a}]'
                             f'.language_queries[{i}]')
                    try:
                        windows = ([[q['clip_start_sec'], q['clip_end_sec']]]
                                   if 'clip_start_sec' in q else [])
                        raw = dict(
                            qid=qid,
                            vid=clip['clip_uid'],
                            query=q['query'],
                            duration=(clip['video_end_sec'] -
                                      clip['video_start_sec']),
                            windows=windows,
                            clip_len=clip_len,
                            extra=dict(
                                video_uid=video.get('video_uid'),
                                annotation_uid=ann.get('annotation_uid'),
                                template=q.get('template')))
                        rec = validate_record(raw, window_policy, tolerance)
                    except (KeyError, TypeError, ValueError) as e:
                        what = (f'missing field {e}' if isinstance(
                            e, KeyError) else str(e))
                        raise ValueError(
                            f'{path}: {where}: qid {qid!r}: {what}') from None
                    if qid in seen:
                        raise ValueError(
                            f'{path}: {where}: qid {qid!r}: duplicate qid')
                    seen.add(qid)
                    records.append(rec)
    if textless:
        print_log(
            f'{path}: skipped {len(textless)} language '
            f'quer{"y" if len(textless) == 1 else "ies"} without text '
            f'(as the official reformat_data.py; they are neither predicted '
            f'nor counted by the official evaluator): {textless[:10]}',
            logger='current')
    return records
