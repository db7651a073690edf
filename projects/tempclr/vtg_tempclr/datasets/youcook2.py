"""YouCook2 clip retrieval as TempCLR (MMPT) evaluates it.

Files (MMPT ``configs/test_youcook_*.yaml``, the YouCook2 data of
HowTo100M / MIL-NCE):

- ``youcook_val.pkl``: a pickled list of records; ``id`` is
  ``{video}_{clip}`` (the video id may itself hold ``_``; the clip is the
  index into the video's annotations), ``caption`` the stop-word-stripped
  caption;
- ``youcookii_annotations_trainval.json``: ``database[video].annotations
  [clip]`` holds ``segment: [start_s, end_s]`` (whole seconds) and
  ``sentence``, the original caption (read when ``use_annotation_text``);
- ``{vfeat_dir}/{video}.npy``: ``[T, 512]`` S3D features, one per second.

As the official ``YoucookMetaProcessor`` / ``YoucookVideoProcessor`` /
``DSAligner``, records whose video has no feature file are dropped (we log
how many), the clip's features are ``feature[start:end]`` and its video
row their first ``min(32, end - start)`` rows.
"""
import json
import logging
import pickle
from typing import Any, Dict, List, Tuple

from mmengine.logging import print_log

from vtg_plugins.registry import DATASETS
from .downstream import ClipCaptionDataset, PathLike, require_file, \
    resolve_path


def split_record_id(rec_id: Any, where: str) -> Tuple[str, int]:
    """``'{video}_{clip}'`` to ``(video, clip)``, split at the last ``_``."""
    if not isinstance(rec_id, str) or '_' not in rec_id:
        raise ValueError(f'{where}: id {rec_id!r} is not "{{video}}_{{clip}}"')
    video, clip = rec_id.rsplit('_', 1)
    if not video or not clip.isdigit():
        raise ValueError(f'{where}: id {rec_id!r} is not "{{video}}_{{clip}}" '
                         'with an integer clip index')
    return video, int(clip)


def _whole_seconds(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not float(value).is_integer():
        raise ValueError(f'{where}: segment bound {value!r} is not a whole '
                         'number of seconds')
    return int(value)


def read_segment(clip: Any, where: str) -> Tuple[int, int]:
    """``(start, end)`` feature rows of an annotation's ``segment``."""
    segment = clip.get('segment') if isinstance(clip, dict) else None
    if not isinstance(segment, (list, tuple)) or len(segment) != 2:
        raise ValueError(f'{where}: annotation has no [start, end] segment, '
                         f'got {segment!r}')
    start, end = (_whole_seconds(v, where) for v in segment)
    if start < 0 or end <= start:
        raise ValueError(f'{where}: segment [{start}, {end}] is not a '
                         'non-empty span starting at or after 0')
    return start, end


def load_pickle_records(path: PathLike) -> List[dict]:
    """The records of ``youcook_val.pkl`` (a list of dicts)."""
    with open(require_file(path, 'YouCook2 clip list'), 'rb') as f:
        try:
            data = pickle.load(f)
        except Exception as e:  # any unpickling failure is a corrupt file
            raise ValueError(f'YouCook2 clip list {path} is not a readable '
                             f'pickle: {e}') from None
    if not isinstance(data, (list, tuple)) or \
            not all(isinstance(r, dict) for r in data):
        raise ValueError(f'YouCook2 clip list {path} must hold a list of '
                         f'dict records, got {type(data).__name__}')
    return list(data)


def load_youcook2_database(path: PathLike) -> Dict[str, dict]:
    """``database`` of ``youcookii_annotations_trainval.json``."""
    with open(require_file(path, 'YouCook2 annotation file')) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'YouCook2 annotation file {path} is not JSON: '
                             f'{e}') from None
    if not isinstance(data, dict) or not isinstance(
            data.get('database'), dict):
        raise ValueError(f'YouCook2 annotation file {path} has no '
                         '"database" object')
    return data['database']


@DATASETS.register_module()
class YouCook2RetrievalDataset(ClipCaptionDataset):
    """YouCook2 text-to-clip retrieval: one item per clip of the pkl.

    Each item has one video row and one caption row (see
    :class:`~.downstream.ClipCaptionDataset`); its data sample holds
    ``video_id`` (YouTube id), ``clip_id`` (annotation index), ``qid``
    (the record id ``{video}_{clip}``) and ``sample_idx``: what
    ``TextVideoRetrievalMetric(protocol='tempclr')`` and the full-video
    retrieval metric read, besides the model's features.

    Args:
        ann_file: ``youcook_val.pkl`` (relative: to ``data_root``).
        trainval_annotation: ``youcookii_annotations_trainval.json``.
        vfeat_dir: feature directory.
        vocab_file: local BERT ``vocab.txt``.
        use_annotation_text (bool): caption from the annotation json's
            ``sentence`` (True, as the TempCLR configs) or the pkl's
            ``caption``.
        strict (bool): refuse a record whose video has no feature file
            instead of dropping it as the official code does.
        **kwargs: :class:`~.downstream.ClipCaptionDataset` arguments.
    """
    meta_keys = ('video_id', 'clip_id', 'qid', 'sample_idx')

    def __init__(self,
                 ann_file: PathLike,
                 trainval_annotation: PathLike,
                 vfeat_dir: PathLike,
                 vocab_file: PathLike,
                 use_annotation_text: bool = True,
                 strict: bool = False,
                 **kwargs) -> None:
        self.trainval_annotation = resolve_path(trainval_annotation,
                                                kwargs.get('data_root'))
        self.use_annotation_text = use_annotation_text
        self.strict = strict
        super().__init__(
            vfeat_dir, vocab_file, ann_file=str(ann_file), **kwargs)

    def load_data_list(self) -> List[dict]:
        """Data infos of the pkl's records whose video has features.

        Raises:
            FileNotFoundError: when the pkl or the json is missing, or (with
                ``strict``) a record's feature file is.
            ValueError: naming the file and record id for a malformed
                record, a record whose video or clip the json lacks, a bad
                segment or an empty caption; and when no record is left.
        """
        records = load_pickle_records(self.ann_file)
        database = load_youcook2_database(self.trainval_annotation)
        data_list, seen, missing = [], set(), {}
        for index, rec in enumerate(records):
            where = f'{self.ann_file}: record {index}'
            video, clip_id = split_record_id(rec.get('id'), where)
            where = f'{self.ann_file}: record {index} (id {rec["id"]!r})'
            if rec['id'] in seen:
                raise ValueError(f'{where}: the id is repeated')
            seen.add(rec['id'])
            if video not in self.features:
                if self.strict:
                    raise FileNotFoundError(
                        f'{where}: video feature file '
                        f'{self.features.expected_file(video)} does not '
                        'exist (strict=True)')
                missing.setdefault(video, 0)
                missing[video] += 1
                continue
            data_list.append(
                self._data_info(rec, video, clip_id, database, where))
        self._report_dropped(len(records), missing)
        return data_list

    def _data_info(self, rec: dict, video: str, clip_id: int,
                   database: Dict[str, dict], where: str) -> dict:
        entry = database.get(video)
        clips = entry.get('annotations') if isinstance(entry, dict) else None
        if not isinstance(clips, list):
            raise ValueError(f'{where}: video {video!r} has no annotations '
                             f'in {self.trainval_annotation}')
        if clip_id >= len(clips):
            raise ValueError(
                f'{where}: clip {clip_id} is past the {len(clips)} '
                f'annotations of video {video!r} in '
                f'{self.trainval_annotation}')
        clip_where = (f'{self.trainval_annotation}: video {video!r} '
                      f'annotation {clip_id} (record {rec["id"]!r})')
        start, end = read_segment(clips[clip_id], clip_where)
        if self.use_annotation_text:
            caption = clips[clip_id].get('sentence')
            caption_where = clip_where + ' sentence'
        else:
            caption = rec.get('caption')
            caption_where = where + ' caption'
        return dict(
            video_id=video,
            clip_id=clip_id,
            qid=rec['id'],
            start=start,
            end=end,
            caption=caption,
            token_ids=self.captions.token_ids(caption, caption_where))

    def _report_dropped(self, total: int, missing: Dict[str, int]) -> None:
        dropped = sum(missing.values())
        if not total:
            raise ValueError(f'YouCook2 clip list {self.ann_file} holds no '
                             'record')
        if dropped == total:
            raise ValueError(
                f'{self.ann_file}: none of its {total} records has a video '
                f'feature file in {self.features.root}')
        if dropped:
            print_log(
                f'{type(self).__name__}: dropped {dropped} of {total} '
                f'records of {self.ann_file}: their {len(missing)} videos '
                f'have no feature file in {self.features.root} (as the '
                'official code; strict=True refuses them)',
                logger='current',
                level=logging.WARNING)
