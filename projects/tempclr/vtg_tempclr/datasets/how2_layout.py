"""MMPT's sharded HowTo100M pre-training files, checked.

Layout (VideoCLIP / TempCLR ``configs/how2.yaml``)::

    {train_path}                       one video id per line
    {vfeat_dir}/{split}_meta.pkl       {shard id: [video id, ...]}
    {vfeat_dir}/{split}_{shard}        ShardedTensor of video features:
                                       item j = video meta[shard][j], [T, D]
    {tfeat_dir}{split}_{shard}.startends   ShardedTensor, item j: [n, 2]
                                       caption (start, end) in seconds
    {tfeat_dir}{split}_{shard}.caps_ids    ShardedTensor, item j: [n, L]
                                       WordPiece ids, rows padded with -1

``tfeat_dir`` is a path prefix (MMPT's ``.../raw_caption_dedup.bert-base-
uncased.``). The structure (list, meta, shard files and their item counts)
is checked when :class:`How2Shards` opens; a video's captions are checked
when it is read (:meth:`How2Shards.read`), as checking 100M captions up front
would take long.
"""
import os
import pickle
from pathlib import Path
from typing import Dict, Hashable, List, NamedTuple, Tuple, Union

import numpy as np

from .clip_sampling import Captions
from .sharded_tensor import ShardedTensorFile

PathLike = Union[str, os.PathLike]
#: MMPT's caption dedup allows a caption to end this much before it starts
START_END_SLACK = 1e-3


class How2Video(NamedTuple):
    """One checked video.

    Attributes:
        video_id (str): its id.
        features (np.ndarray): ``[T, D]`` features, one per second (a view
            into the memory map).
        captions (Captions): times and token counts of its ``n`` captions.
        tokens (List[List[int]]): ``n`` WordPiece id lists.
    """
    video_id: str
    features: np.ndarray
    captions: Captions
    tokens: List[List[int]]


def read_video_list(path: PathLike) -> List[str]:
    """Video ids of a list file, one per line (surrounding blanks removed).

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: naming the file and line of an empty line, or when the
            file lists no video.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'video list {path} does not exist')
    with open(path, encoding='utf-8') as f:
        ids = [line.strip() for line in f]
    for i, video_id in enumerate(ids):
        if not video_id:
            raise ValueError(f'video list {path}: line {i + 1} is empty; '
                             'each line holds one video id')
    if not ids:
        raise ValueError(f'video list {path} lists no video')
    return ids


def read_shard_meta(path: PathLike) -> Dict[Hashable, List[str]]:
    """``{shard id: [video id, ...]}`` of a meta pickle, checked.

    Raises:
        ValueError: naming the file and the shard or video when it is not
            such a dict or a video id is listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'shard meta {path} does not exist')
    with open(path, 'rb') as f:
        try:
            meta = pickle.load(f)
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise ValueError(f'corrupt shard meta {path}: {e}') from None
    if not isinstance(meta, dict):
        raise ValueError(f'shard meta {path}: expected a dict {{shard id: '
                         f'[video id, ...]}}, got {type(meta).__name__}')
    seen: Dict[str, Hashable] = {}
    for shard, ids in meta.items():
        if not isinstance(ids, (list, tuple)) or \
                not all(isinstance(v, str) for v in ids):
            raise ValueError(f'shard meta {path}: shard {shard!r} must list '
                             'video id strings')
        for video_id in ids:
            if video_id in seen:
                raise ValueError(
                    f'shard meta {path}: video {video_id!r} is listed in '
                    f'shard {seen[video_id]!r} and in shard {shard!r}')
            seen[video_id] = shard
    return meta


class _Shard(NamedTuple):
    video: ShardedTensorFile
    startends: ShardedTensorFile
    caps_ids: ShardedTensorFile


def _open(prefix: str, meta_path: Path, shard: Hashable) -> ShardedTensorFile:
    try:
        return ShardedTensorFile(prefix)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f'shard meta {meta_path} names shard {shard!r}, but {e}') \
            from None


class How2Shards:
    """Video features and captions of one split, by video id.

    Args:
        vfeat_dir: folder of the video shards and ``{split}_meta.pkl``.
        tfeat_dir: path prefix of the caption shards.
        split (str): file name prefix, ``'train'`` or ``'val'``.
        caption_end_tolerance (float): seconds a caption may end after the
            last feature step ``T``. Features are one per second, so a
            video of ``d`` seconds has ``T = floor(d)`` steps and captions
            may end up to 1 s after ``T`` (MMPT clips windows to ``T``).

    Raises:
        FileNotFoundError / ValueError: naming the file and the shard, item
            or video of any structural fault (see :meth:`_check_shard`).
    """

    def __init__(self,
                 vfeat_dir: PathLike,
                 tfeat_dir: str,
                 split: str,
                 caption_end_tolerance: float = 1.0) -> None:
        self.meta_path = Path(vfeat_dir) / f'{split}_meta.pkl'
        self.caption_end_tolerance = float(caption_end_tolerance)
        meta = read_shard_meta(self.meta_path)
        self._shards: Dict[Hashable, _Shard] = {}
        self._locations: Dict[str, Tuple[Hashable, int]] = {}
        dims = {}
        for shard, ids in meta.items():
            files = _Shard(
                _open(
                    os.path.join(vfeat_dir, f'{split}_{shard}'),
                    self.meta_path, shard),
                _open(f'{tfeat_dir}{split}_{shard}.startends', self.meta_path,
                      shard),
                _open(f'{tfeat_dir}{split}_{shard}.caps_ids', self.meta_path,
                      shard))
            self._check_shard(shard, list(ids), files)
            dims.setdefault(files.video.row_shape, files.video.prefix)
            self._shards[shard] = files
            for pos, video_id in enumerate(ids):
                self._locations[video_id] = (shard, pos)
        if len(dims) > 1:
            raise ValueError(f'video shards differ in feature shape: '
                             f'{dims} (row shape: first shard with it)')

    def _check_shard(self, shard: Hashable, ids: List[str],
                     files: _Shard) -> None:
        """One feature vector per row, caption rows ``[2]`` / ``[L]`` ints,
        one item per meta video in each file, and as many caption times as
        caption id rows per video."""
        video, startends, caps = files
        if len(video.row_shape) != 1 or video.dtype.kind != 'f':
            raise ValueError(f'{video.data_path}: video features must be '
                             f'float [rows, D], got {video.dtype} rows of '
                             f'shape {list(video.row_shape)}')
        if startends.row_shape != (2, ):
            raise ValueError(f'{startends.data_path}: caption times must be '
                             f'[rows, 2] (start, end), got rows of shape '
                             f'{list(startends.row_shape)}')
        if len(caps.row_shape) != 1 or caps.dtype.kind not in 'iu':
            raise ValueError(f'{caps.data_path}: caption ids must be int '
                             f'[rows, L], got {caps.dtype} rows of shape '
                             f'{list(caps.row_shape)}')
        for part in files:
            if len(part) != len(ids):
                raise ValueError(
                    f'{part.starts_path} holds {len(part)} items but '
                    f'shard meta {self.meta_path} lists {len(ids)} videos '
                    f'for shard {shard!r}')
        bad = np.nonzero(startends.lengths() != caps.lengths())[0]
        if len(bad):
            pos = int(bad[0])
            raise ValueError(
                f'video {ids[pos]!r} (shard {shard!r} item {pos}): '
                f'{startends.starts_path} gives it '
                f'{startends.lengths()[pos]} captions, {caps.starts_path} '
                f'{caps.lengths()[pos]}')

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._locations

    def read(self, video_id: str) -> How2Video:
        """Features, caption times and caption ids of a video.

        Raises:
            KeyError: naming the meta file when the video is not in it.
            ValueError: naming the file, the video and the caption when the
                video has no feature step or no caption, a caption is empty
                (all -1) or its window is not inside the video
                (``0 <= start``, ``end >= start - 0.001`` as MMPT's dedup
                allows, ``end <= T + caption_end_tolerance``).
        """
        if video_id not in self._locations:
            raise KeyError(f'video {video_id!r} is not in shard meta '
                           f'{self.meta_path}')
        shard, pos = self._locations[video_id]
        files = self._shards[shard]
        where = f'video {video_id!r} (shard {shard!r} item {pos})'
        features = files.video[pos]
        if len(features) == 0:
            raise ValueError(f'{files.video.data_path}: {where} has no '
                             'feature step')
        times = np.asarray(files.startends[pos], dtype=np.float64)
        if len(times) == 0:
            raise ValueError(f'{files.startends.data_path}: {where} has no '
                             'caption; each video needs at least one')
        self._check_times(times, len(features), files.startends.data_path,
                          where)
        rows = np.asarray(files.caps_ids[pos])
        tokens = [row[row != -1].tolist() for row in rows]
        for j, ids in enumerate(tokens):
            if not ids or min(ids) < 0:
                what = 'is empty (all -1)' if not ids else \
                    f'holds negative ids other than the -1 padding: {ids}'
                raise ValueError(f'{files.caps_ids.data_path}: {where}, '
                                 f'caption {j} {what}')
        captions = Captions(times[:, 0].tolist(), times[:, 1].tolist(),
                            [len(t) for t in tokens])
        return How2Video(video_id, features, captions, tokens)

    def _check_times(self, times: np.ndarray, num_frames: int, path: Path,
                     where: str) -> None:
        starts, ends = times[:, 0], times[:, 1]
        limit = num_frames + self.caption_end_tolerance
        faults = (
            (~np.isfinite(times).all(axis=1), 'is not finite'),
            (starts < 0, 'starts before 0'),
            (ends < starts - START_END_SLACK, 'ends before it starts'),
            (ends > limit, f'ends after the video ({num_frames} steps + '
             f'caption_end_tolerance {self.caption_end_tolerance} s)'),
        )
        for mask, what in faults:
            if mask.any():
                j = int(np.nonzero(mask)[0][0])
                raise ValueError(
                    f'{path}: {where}, caption {j} (start {starts[j]}, end '
                    f'{ends[j]}) {what}')
