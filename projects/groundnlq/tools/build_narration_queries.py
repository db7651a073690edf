"""EgoClip narrations inside Ego4D NLQ / MQ / VQ train clips -> GroundNLQ
narration pre-training queries.

    python projects/groundnlq/tools/build_narration_queries.py egoclip.csv \
        nlq_train.json moments_train.json vq_train.json \
        --out data/ego4d_nlq/ego4d_data_narration/narration_queries.jsonl \
        [--format normalized|groundnlq]

Follows houzhijian/GroundNLQ
``ego4d_data_narration/create_pretrain_data_from_egoclip.py``:

- the annotation files are read in the order given (officially NLQ, MQ,
  VQ train); each clip uid is taken once, the first time it is seen;
- a narration of the clip's video belongs to the clip when its EgoClip
  window lies strictly inside the clip: ``clip_start > video_start_sec``
  and ``clip_end < video_end_sec``; its window (and ``narration_time``) is
  shifted to clip time by ``- video_start_sec``; the clip duration is
  ``video_end_sec - video_start_sec``;
- query id ``f'{clip_uid}_narrator-{1|2}_{narration_ind}'`` from
  ``narration_source`` ``narration_pass_1`` / ``narration_pass_2``;
- queries are written clip by clip, narrations in EgoClip row order.

The official temporal jitter is not applied here: the official loader
rescales and shifts every narration window each time it reads it
(``enable_temporal_jittering``), which is the ``NLQTemporalJitter``
transform of the pre-training config. Clips without video features are
dropped by the dataset (``on_missing='drop'``, the official
``filter_missing_video.py``).

``--format normalized`` (default) writes normalized grounding records
(``qid``, ``vid``, ``query``, ``duration``, ``windows``, ``clip_len``,
``extra``: ``query_type='narration'``, ``video_uid``,
``narration_source``, ``narration_ind``, ``narration_time``);
``--format groundnlq`` writes the official jsonl (``narration_query``,
``query_id``, ``duration``, ``video_id``, ``query_type='nlq_narration'``,
``timestamps``). Rows with a wrong number of fields (which the official
``pandas.read_csv(error_bad_lines=False)`` skips) are skipped and reported;
any other bad row is an error naming its line.
"""
import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

from vtg_plugins.datasets import (EGO4D_CLIP_LEN, dump_grounding_annotations,
                                  validate_record)
from vtg_plugins.utils.io import atomic_write_bytes

EGOCLIP_FIELDS = ('video_uid', 'narration_source', 'narration_ind',
                  'clip_start', 'clip_end', 'narration_time', 'clip_text')
NARRATORS = {
    'narration_pass_1': 'narrator-1',
    'narration_pass_2': 'narrator-2'
}


def read_egoclip(path: Path) -> Tuple[Dict[str, List[dict]], List[int]]:
    """EgoClip rows grouped by ``video_uid`` (file order kept).

    Returns:
        tuple: ``{video_uid: [row, ...]}`` (each row with its ``line``) and
        the line numbers of rows skipped for a wrong field count.
    """
    rows, skipped = defaultdict(list), []
    with open(path, encoding='utf-8', newline='') as f:
        reader = csv.reader(f, delimiter='\t')
        header = next(reader, None)
        if header is None:
            raise ValueError(f'{path}: empty EgoClip file')
        absent = [k for k in EGOCLIP_FIELDS if k not in header]
        if absent:
            raise ValueError(f'{path}: EgoClip header lacks {absent}')
        for line, values in enumerate(reader, 2):
            if len(values) != len(header):
                skipped.append(line)
                continue
            row = dict(zip(header, values), line=line)
            try:
                for key in ('clip_start', 'clip_end', 'narration_time'):
                    row[key] = float(row[key])
            except ValueError as e:
                raise ValueError(f'{path}: line {line}: {e}') from None
            rows[row['video_uid']].append(row)
    return rows, skipped


def iter_clips(paths: Sequence[Path]) -> Iterable[Tuple[str, dict]]:
    """``(video_uid, clip)`` of each first-seen clip uid, files in order."""
    seen = set()
    for path in paths:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        for v, video in enumerate(data.get('videos', [])):
            for c, clip in enumerate(video.get('clips', [])):
                where = f'{path}: videos[{v}].clips[{c}]'
                try:
                    uid = clip['clip_uid']
                    float(clip['video_start_sec'])
                    float(clip['video_end_sec'])
                    video_uid = video['video_uid']
                except (KeyError, TypeError, ValueError) as e:
                    raise ValueError(f'{where}: bad or missing field {e}') \
                        from None
                if uid in seen:
                    continue
                seen.add(uid)
                yield video_uid, clip


def build_queries(egoclip: Dict[str, List[dict]],
                  clips: Iterable[Tuple[str, dict]],
                  source: str = 'egoclip') -> List[dict]:
    """Normalized narration records of ``clips`` (see the module doc)."""
    records, first_line = [], {}
    for video_uid, clip in clips:
        start, end = float(clip['video_start_sec']), float(
            clip['video_end_sec'])
        for row in egoclip.get(video_uid, ()):
            if not (row['clip_start'] > start and row['clip_end'] < end):
                continue
            where = f"{source}: line {row['line']}"
            narrator = NARRATORS.get(row['narration_source'])
            if narrator is None:
                raise ValueError(
                    f"{where}: narration_source {row['narration_source']!r} "
                    f'is not one of {sorted(NARRATORS)}')
            qid = f"{clip['clip_uid']}_{narrator}_{row['narration_ind']}"
            if qid in first_line:
                raise ValueError(f'{where}: query id {qid!r} repeats line '
                                 f'{first_line[qid]}')
            first_line[qid] = row['line']
            raw = dict(
                qid=qid,
                vid=clip['clip_uid'],
                query=row['clip_text'],
                duration=end - start,
                windows=[[row['clip_start'] - start,
                          row['clip_end'] - start]],
                clip_len=EGO4D_CLIP_LEN,
                extra=dict(
                    query_type='narration',
                    video_uid=video_uid,
                    narration_source=row['narration_source'],
                    narration_ind=row['narration_ind'],
                    narration_time=row['narration_time'] - start))
            try:
                records.append(validate_record(raw, window_policy='error'))
            except ValueError as e:
                raise ValueError(f'{where} (clip {clip["clip_uid"]!r}): {e}') \
                    from None
    return records


def to_groundnlq(rec) -> dict:
    """A normalized narration record in the official jsonl format."""
    return dict(
        narration_query=rec.query,
        query_id=rec.qid,
        duration=rec.duration,
        video_id=rec.vid,
        query_type='nlq_narration',
        timestamps=rec.windows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('egoclip', type=Path, help='EgoClip csv (tab-sep.)')
    parser.add_argument(
        'clip_files',
        type=Path,
        nargs='+',
        help='official train annotation json(s) with videos -> clips '
        '(NLQ, MQ, VQ train in the official order)')
    parser.add_argument('--out', type=Path, required=True, help='.jsonl')
    parser.add_argument(
        '--format', choices=('normalized', 'groundnlq'), default='normalized')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    egoclip, skipped = read_egoclip(args.egoclip)
    if skipped:
        print(f'{args.egoclip}: skipped {len(skipped)} malformed rows '
              f'(wrong field count), lines {skipped[:10]}', file=sys.stderr)
    records = build_queries(egoclip, iter_clips(args.clip_files),
                            str(args.egoclip))
    if args.format == 'normalized':
        dump_grounding_annotations(records, args.out)
    else:
        lines = [json.dumps(to_groundnlq(r)) for r in records]
        atomic_write_bytes(args.out, ('\n'.join(lines) + '\n').encode())
    clips = len({r.vid for r in records})
    print(f'{len(records)} narration queries in {clips} clips -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
