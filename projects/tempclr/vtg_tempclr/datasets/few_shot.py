"""N-way K-shot episodes over class-labelled videos with stored features.

The video list names one video per record and its class, in one of two
layouts (chosen by the file suffix):

- ``.jsonl``: one JSON object per line, ``{"video": key, "label": class}``;
- ``.txt`` (any other suffix): one ``class/video`` per line, the layout of the
  few-shot split files of CMN/TRX (``air drumming/-VtLx-mcPds``); the class
  is what precedes the last ``/``.

Blank lines are skipped. ``video`` is the key of the video's ``[T, D]``
features in a ``vtg_plugins`` feature store (one feature per frame or per
second, whichever the store holds).

One dataset item is one episode. Episode ``i`` is drawn by
``numpy.random.default_rng([seed, i])``: ``num_ways`` classes out of the
sorted class names, then ``num_shots + num_queries`` distinct videos of each
chosen class (in list order, drawn without replacement); the first
``num_shots`` are the class's support, the rest its queries. The episode
depends only on ``(seed, i)``, so every process, worker and rerun sees the same
episodes. A video's ``num_frames`` features are taken at
``int(linspace(0, T - 1, num_frames))`` (as in the few-shot action
recognition library whose OTAM TempCLR's alignment code comes from).
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement

from vtg_plugins.datasets.feature_stores import (FeatureStore,
                                                 build_feature_store)
from vtg_plugins.registry import DATASETS


class FewShotDataError(ValueError):
    """A video list, a class or a video's features do not fit the episode
    set-up (the message names the file, the record and what is wrong)."""


def _parse_jsonl(path: str, line: int, text: str) -> Tuple[str, str]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise FewShotDataError(f'{path} line {line}: not JSON ({e.msg})') \
            from None
    if not isinstance(record, dict):
        raise FewShotDataError(f'{path} line {line}: expected an object '
                               f'{{"video": ..., "label": ...}}, got '
                               f'{type(record).__name__}')
    fields = []
    for name in ('video', 'label'):
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise FewShotDataError(
                f"{path} line {line}: field '{name}' must be a non-empty "
                f'str, got {value!r}')
        fields.append(value)
    return fields[0], fields[1]


def _parse_split_line(path: str, line: int, text: str) -> Tuple[str, str]:
    label, sep, video = text.rpartition('/')
    if not sep or not label.strip() or not video.strip():
        raise FewShotDataError(f"{path} line {line}: expected 'class/video', "
                               f'got {text!r}')
    return video, label


def read_video_list(path: str) -> List[Tuple[int, str, str]]:
    """The ``(line, video, label)`` records of a class-labelled video list.

    Args:
        path (str): a ``.jsonl`` list or a ``class/video`` text list (see the
            module docstring).

    Returns:
        list: ``(line, video, label)`` per record, ``line`` 1-based.

    Raises:
        FileNotFoundError: the list does not exist.
        FewShotDataError: a malformed record, a video listed twice, or a
            list without records.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'few-shot video list {path} does not exist')
    parse = _parse_jsonl if path.endswith('.jsonl') else _parse_split_line
    records, first_line = [], {}
    with open(path, encoding='utf-8') as f:
        for line, text in enumerate(f, start=1):
            text = text.strip()
            if not text:
                continue
            video, label = parse(path, line, text)
            if video in first_line:
                raise FewShotDataError(
                    f'{path} line {line}: video {video!r} is already listed '
                    f'on line {first_line[video]}')
            first_line[video] = line
            records.append((line, video, label))
    if not records:
        raise FewShotDataError(f'few-shot video list {path} has no records')
    return records


def frame_indices(num_steps: int, num_frames: int) -> np.ndarray:
    """``int(linspace(0, num_steps - 1, num_frames))``: ``[num_frames]``
    indices spread over the video, both ends included."""
    return np.linspace(0, num_steps - 1, num_frames).astype(np.int64)


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'FewShotEpisodeDataset: {name} must be a positive '
                         f'int, got {value!r}')
    return value


@DATASETS.register_module()
class FewShotEpisodeDataset(BaseDataset):
    """Seeded N-way K-shot episodes of stored video features.

    Args:
        ann_file (str): the video list (``.jsonl`` or ``class/video`` text,
            see the module docstring); joined to ``data_root`` if relative.
        feature_store (dict | FeatureStore): where each video's ``[T, D]``
            features are, e.g. ``dict(type='DirectoryStore', root=...)``.
        num_ways (int): classes per episode (N). Default 5.
        num_shots (int): support videos per class (K). Default 1.
        num_queries (int): query videos per class (Q). Default 1.
        num_episodes (int): dataset length. Default 10000.
        num_frames (int): features sampled per video (F). Default 8.
        seed (int): episode seed. Default 0.
        classes (Sequence[str], optional): use only these classes of the
            list (all when None).
        allow_short_videos (bool): let a video with fewer than ``num_frames``
            steps repeat steps; when False (default) such a video is an
            error when an episode reads it.
        **kwargs: :class:`~mmengine.dataset.BaseDataset` arguments
            (``data_root``, ``test_mode``, ``lazy_init``, ...); the episode
            is packed by the dataset itself, so there is no ``pipeline``.

    An item is ``dict(inputs=dict(vfeats, vmasks), data_samples=sample)``
    with ``vfeats [N*(K+Q), F, D]`` float32 (the N*K support videos, class by
    class, then the N*Q queries, class by class), ``vmasks [N*(K+Q), F]``
    all True, and ``sample`` a :class:`BaseDataElement` holding
    ``episode_id``, ``num_ways``, ``num_shots``, ``num_queries``,
    ``support_labels [N*K]`` and ``query_labels [N*Q]`` (long, episode
    labels ``0..N-1``), ``class_names`` (N), ``support_videos`` and
    ``query_videos`` (keys).

    Raises:
        FewShotDataError: when loading, a class named in ``classes`` is
            not in the list, a class has fewer than ``K + Q`` videos, fewer
            than N classes are left, or a listed video has no features in
            the store; when reading, a video's features are not ``[T, D]``
            or are shorter than ``num_frames`` (unless allowed).
    """

    def __init__(self,
                 ann_file: str,
                 feature_store: Union[dict, FeatureStore],
                 num_ways: int = 5,
                 num_shots: int = 1,
                 num_queries: int = 1,
                 num_episodes: int = 10000,
                 num_frames: int = 8,
                 seed: int = 0,
                 classes: Optional[Sequence[str]] = None,
                 allow_short_videos: bool = False,
                 **kwargs):
        if 'pipeline' in kwargs:
            raise TypeError('FewShotEpisodeDataset packs its episodes itself '
                            'and takes no pipeline')
        self.num_ways = _positive(num_ways, 'num_ways')
        self.num_shots = _positive(num_shots, 'num_shots')
        self.num_queries = _positive(num_queries, 'num_queries')
        self.num_episodes = _positive(num_episodes, 'num_episodes')
        self.num_frames = _positive(num_frames, 'num_frames')
        self.seed = seed
        self.selected_classes = None if classes is None else list(classes)
        self.allow_short_videos = allow_short_videos
        self.store = build_feature_store(feature_store)
        self.class_names: List[str] = []
        self.videos_by_class: Dict[str, List[Tuple[int, str]]] = {}
        super().__init__(ann_file=ann_file, pipeline=[], **kwargs)

    # --- loading -------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Index the list by class, check it, return one info per episode."""
        by_class: Dict[str, List[Tuple[int, str]]] = {}
        for line, video, label in read_video_list(self.ann_file):
            if video not in self.store:
                raise FewShotDataError(
                    f'{self.ann_file} line {line}: video {video!r} has no '
                    f'features in {self.store!r}')
            by_class.setdefault(label, []).append((line, video))
        by_class = self._select_classes(by_class)
        needed = self.num_shots + self.num_queries
        for label, videos in by_class.items():
            if len(videos) < needed:
                raise FewShotDataError(
                    f'{self.ann_file}: class {label!r} has {len(videos)} '
                    f'videos, fewer than num_shots + num_queries = {needed}')
        if len(by_class) < self.num_ways:
            raise FewShotDataError(
                f'{self.ann_file}: {len(by_class)} classes, fewer than '
                f'num_ways = {self.num_ways}')
        self.class_names = sorted(by_class)
        self.videos_by_class = by_class
        return [dict(episode_id=i) for i in range(self.num_episodes)]

    def _select_classes(self, by_class: dict) -> dict:
        if self.selected_classes is None:
            return by_class
        unknown = [c for c in self.selected_classes if c not in by_class]
        if unknown:
            raise FewShotDataError(
                f'{self.ann_file}: classes {unknown} are not in the list '
                f'(it has {len(by_class)} classes, e.g. '
                f'{sorted(by_class)[:5]})')
        return {c: by_class[c] for c in self.selected_classes}

    # --- episodes ------------------------------------------------------------
    def sample_episode(self, episode_id: int
                       ) -> Tuple[List[str], List[List[Tuple[int, str]]]]:
        """The classes of episode ``episode_id`` and, per class, its
        ``num_shots + num_queries`` ``(line, video)`` records (support
        first).

        Returns:
            tuple: ``(class_names [N], records [N][K + Q])``.
        """
        rng = np.random.default_rng([self.seed, episode_id])
        picked = rng.choice(len(self.class_names), self.num_ways,
                            replace=False)
        names = [self.class_names[i] for i in picked]
        per_class = []
        for name in names:
            videos = self.videos_by_class[name]
            idx = rng.choice(len(videos), self.num_shots + self.num_queries,
                             replace=False)
            per_class.append([videos[i] for i in idx])
        return names, per_class

    def _frames(self, line: int, video: str) -> np.ndarray:
        features = self.store[video]
        where = f'{self.ann_file} line {line}: video {video!r} in ' \
                f'{self.store!r}'
        if features.ndim != 2 or features.shape[0] == 0:
            raise FewShotDataError(f'{where} has features of shape '
                                   f'{list(features.shape)}; expected [T, D] '
                                   'with T >= 1')
        if len(features) < self.num_frames and not self.allow_short_videos:
            raise FewShotDataError(
                f'{where} has {len(features)} feature steps, fewer than '
                f'num_frames = {self.num_frames} (pass allow_short_videos='
                'True to repeat steps)')
        picked = features[frame_indices(len(features), self.num_frames)]
        return np.asarray(picked, dtype=np.float32)

    def prepare_data(self, idx: int) -> dict:
        """Read and pack episode ``idx`` (see the class docstring)."""
        episode_id = self.get_data_info(idx)['episode_id']
        names, per_class = self.sample_episode(episode_id)
        k = self.num_shots
        support = [rec for recs in per_class for rec in recs[:k]]
        queries = [rec for recs in per_class for rec in recs[k:]]
        frames = [self._frames(line, vid) for line, vid in support + queries]
        dims = {f.shape[1] for f in frames}
        if len(dims) > 1:
            raise FewShotDataError(
                f'{self.ann_file}: episode {episode_id} mixes feature '
                f'dimensions {sorted(dims)} (videos '
                f'{[v for _, v in support + queries]})')
        vfeats = torch.from_numpy(np.stack(frames))
        vmasks = torch.ones(vfeats.shape[:2], dtype=torch.bool)
        ways = torch.arange(self.num_ways)
        sample = BaseDataElement(
            episode_id=episode_id,
            num_ways=self.num_ways,
            num_shots=self.num_shots,
            num_queries=self.num_queries,
            support_labels=ways.repeat_interleave(self.num_shots),
            query_labels=ways.repeat_interleave(self.num_queries),
            class_names=names,
            support_videos=[v for _, v in support],
            query_videos=[v for _, v in queries])
        return dict(inputs=dict(vfeats=vfeats, vmasks=vmasks),
                    data_samples=sample)
