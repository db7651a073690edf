"""YouTube Highlights and TVSum in R²-Tuning's annotation format.

The official files (yeliudev/R2-Tuning ``data/youtube/youtube_anno.json``,
``data/tvsum/tvsum_anno.json``) map a video id to its labels: YouTube
``match`` (one +-1 per clip), TVSum ``anno`` (``[clips, 20]`` annotator
scores). Domains split videos into train / val by the fixed lists of
UMT (``splits.json``). The query is the video title, so the query store is
keyed by video id.
"""
import json
import math
import os.path as osp
from typing import Any, Callable, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from vtg_plugins.datasets import FeatureStore
from vtg_plugins.datasets.annotations import read_json_file
from vtg_plugins.datasets.grounding import (build_store, check_finite,
                                            check_store_recipes)
from vtg_plugins.registry import DATASETS

_SPLITS_FILE = osp.join(osp.dirname(__file__), 'splits.json')


def load_splits(benchmark: str) -> dict:
    """``{domain: {'train': [vid, ...], 'val': [...]}}`` of ``'youtube'`` or
    ``'tvsum'``."""
    with open(_SPLITS_FILE) as f:
        return json.load(f)[benchmark]


class _HighlightDataset(BaseDataset):
    """One sample per video of a domain and split.

    Args:
        ann_file (str): the official annotation json.
        domain (str): e.g. ``'dog'`` (YouTube) or ``'BK'`` (TVSum).
        split (str): ``'train'`` or ``'val'`` list of the domain.
        video_store / query_store (dict | FeatureStore): feature stores,
            both keyed by video id (a relative root is joined to
            ``data_root``).
        recipe / query_recipe (dict, optional): the recipes of the video
            and query features the stores are checked against (see
            :class:`~vtg_plugins.datasets.GroundingDataset`).
        pipeline (list): transforms.
    """
    benchmark = ''
    label_key = ''

    def __init__(self,
                 ann_file: str,
                 domain: str,
                 video_store: Union[dict, FeatureStore],
                 query_store: Union[dict, FeatureStore],
                 split: str = 'val',
                 recipe: Optional[dict] = None,
                 query_recipe: Optional[dict] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        splits = load_splits(self.benchmark)
        if domain not in splits:
            raise KeyError(f'{self.benchmark}: unknown domain {domain!r}; '
                           f'known: {sorted(splits)}')
        if split not in ('train', 'val'):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.domain = domain
        self.split = split
        self.split_vids = splits[domain][split]
        self.video_store = build_store(video_store, kwargs.get('data_root'))
        self.query_store = build_store(query_store, kwargs.get('data_root'))
        self.recipe = dict(recipe) if recipe else None
        check_store_recipes(self.video_store, self.query_store, recipe,
                            query_recipe, f'{type(self).__name__}({ann_file})')
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        labels = read_json_file(self.ann_file)
        if not isinstance(labels, dict):
            raise ValueError(f'{self.ann_file}: expected an object keyed by '
                             f'video id, got {type(labels).__name__}')
        data_list = []
        for vid in self.split_vids:
            if vid not in labels:  # the official loader skips absent videos
                continue
            data_list.append(
                dict(vid=vid, qid=vid,
                     **{self.label_key: self._labels(vid, labels[vid])}))
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: none of the {len(self.split_vids)} '
                f'{self.split} videos of domain {self.domain!r} is annotated')
        return data_list

    def _labels(self, vid: str, entry: Any) -> list:
        """The ``label_key`` labels of a video: YouTube ``match`` ``[T]``,
        TVSum ``anno`` ``[T, annotators]``, finite numbers."""
        where = f'{self.ann_file}: video {vid!r}: field {self.label_key!r}'
        if not isinstance(entry, dict) or self.label_key not in entry:
            raise ValueError(f'{where} is missing')
        labels = entry[self.label_key]
        rows = labels if self.label_key == 'anno' else [labels]
        if not isinstance(labels, list) or not labels or not all(
                isinstance(r, list) and r and len(r) == len(rows[0])
                for r in rows):
            shape = '[clips, annotators]' if rows is labels else '[clips]'
            raise ValueError(f'{where} must be a non-empty {shape} list of '
                             'numbers (rows of equal length)')
        for row in rows:
            for v in row:
                if isinstance(v, bool) or not isinstance(
                        v, (int, float)) or not math.isfinite(v):
                    raise ValueError(f'{where} holds {v!r}, not a finite '
                                     'number')
        return labels

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        for name, store in (('video_feat', self.video_store),
                            ('query_feat', self.query_store)):
            feat = store[info['vid']]
            check_finite(feat, f"{store.root}: {info['vid']!r}")
            info[name] = feat
        return self.pipeline(info)


@DATASETS.register_module()
class YouTubeHighlightsDataset(_HighlightDataset):
    """YouTube Highlights (6 domains); labels ``match`` ``[T]``."""
    benchmark = 'youtube'
    label_key = 'match'


@DATASETS.register_module()
class TVSumDataset(_HighlightDataset):
    """TVSum (10 domains); labels ``anno`` ``[T, 20]``."""
    benchmark = 'tvsum'
    label_key = 'anno'


__all__ = ['YouTubeHighlightsDataset', 'TVSumDataset', 'load_splits']
