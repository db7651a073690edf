"""YouTube Highlights and TVSum in R²-Tuning's annotation format.

The official files (yeliudev/R2-Tuning ``data/youtube/youtube_anno.json``,
``data/tvsum/tvsum_anno.json``) map a video id to its labels: YouTube
``match`` (one +-1 per clip), TVSum ``anno`` (``[clips, 20]`` annotator
scores). Domains split videos into train / val by the fixed lists of
UMT (``splits.json``). The query is the video title, so the query store is
keyed by video id.
"""
import json
import os.path as osp
from typing import Callable, List, Sequence, Union

from mmengine.dataset import BaseDataset

from vtg_plugins.datasets import FeatureStore
from vtg_plugins.datasets.grounding import build_store, check_finite
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
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        try:
            with open(self.ann_file) as f:
                labels = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f'{self.ann_file}: cannot read annotations '
                             f'({e})') from None
        data_list = []
        for vid in self.split_vids:
            if vid not in labels:  # the official loader skips absent videos
                continue
            if self.label_key not in labels[vid]:
                raise ValueError(f'{self.ann_file}: video {vid!r} has no '
                                 f'{self.label_key!r} field')
            data_list.append(
                dict(vid=vid, qid=vid,
                     **{self.label_key: labels[vid][self.label_key]}))
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: none of the {len(self.split_vids)} '
                f'{self.split} videos of domain {self.domain!r} is annotated')
        return data_list

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
