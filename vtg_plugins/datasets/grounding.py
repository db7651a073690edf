"""Grounding datasets over feature stores (moment retrieval / highlights).

:class:`GroundingDataset` reads an annotation file (normalized or an
official format), checks the feature stores' recipe, and gives each sample
its video and query features, checked for the faults that make results
silently wrong (non-finite values, a clip count that disagrees with the
duration, a query longer than the text encoder's context). Method-specific
target construction and packing are pipeline transforms of each project.
"""
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from vtg_plugins.registry import DATASETS
from .annotations import GroundingRecord, load_grounding_annotations
from vtg_plugins.features.recipe import check_recipe
from .feature_stores import FeatureStore, build_feature_store


def build_store(cfg: Union[dict, FeatureStore, None],
                data_root: Optional[str] = None) -> Optional[FeatureStore]:
    """Build a store; a relative ``root`` in a config is taken relative to
    ``data_root`` (as ``BaseDataset`` does for ``ann_file``)."""
    if cfg is None or isinstance(cfg, FeatureStore):
        return cfg
    cfg = dict(cfg)
    if data_root and not osp.isabs(str(cfg.get('root', ''))):
        cfg['root'] = osp.join(data_root, cfg['root'])
    return build_feature_store(cfg)


@DATASETS.register_module()
class GroundingDataset(BaseDataset):
    """One sample per query: a normalized record plus its features.

    Each data info holds the record fields (``qid``, ``vid``, ``query``,
    ``duration``, ``windows``, ``saliency``, ``clip_len``, ``extra``) and,
    after loading, ``video_feat`` (the video store's array, e.g.
    ``[T, k, P, C]`` for R²-Tuning caches or ``[T, D]``) and ``query_feat``
    (``[L, ...]``), both as stored (e.g. fp16).

    Args:
        ann_file (str): annotation file.
        video_store (dict | FeatureStore): store config keyed by video id;
            a relative ``root`` is joined to ``data_root``.
        query_store (dict | FeatureStore, optional): store keyed by
            ``query_key`` of the record (``'qid'``; ``'vid'`` where the query
            is the video title, as in YouTube Highlights / TVSum).
        ann_format (str): ``'normalized'`` or another format of
            :data:`vtg_plugins.registry.ANNOTATION_LOADERS` (e.g.
            ``'qvhighlights'``, ``'ego4d_nlq_json'``).
        ann_kwargs (dict): options of the format's loader (e.g.
            ``clip_len``).
        window_policy (str): out-of-duration windows: ``'keep'`` (default,
            as the official evaluators), ``'clip'`` or ``'error'``.
        min_duration / max_duration (float): drop queries on videos shorter
            / longer than this many seconds (R²-Tuning drops videos < 5 s in
            training). None keeps all.
        vid_suffix (str): appended to every video id to form the store key
            (TACoS caches are keyed ``{vid}-cam-002``).
        query_key (str): record field used as the query-store key.
        recipe (dict, optional): the feature recipe the config was trained
            on; a store whose ``meta.json`` states other values is refused.
        max_query_len (int, optional): longest query (tokens) accepted; CLIP
            has a context of 77.
        max_clip_mismatch (float): largest accepted difference, in clips,
            between the video features' T and ``duration / clip_len``.
        pipeline (list): transforms applied to each data info.
        test_mode (bool): the split has no ground truth to train on.
    """

    def __init__(self,
                 ann_file: str,
                 video_store: Union[dict, FeatureStore],
                 query_store: Union[dict, FeatureStore, None] = None,
                 ann_format: str = 'normalized',
                 ann_kwargs: Optional[dict] = None,
                 window_policy: str = 'keep',
                 min_duration: Optional[float] = None,
                 max_duration: Optional[float] = None,
                 vid_suffix: str = '',
                 query_key: str = 'qid',
                 recipe: Optional[dict] = None,
                 max_query_len: Optional[int] = 77,
                 max_clip_mismatch: float = 5.0,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        self.ann_format = ann_format
        self.ann_kwargs = dict(ann_kwargs or {})
        self.window_policy = window_policy
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.vid_suffix = vid_suffix
        self.query_key = query_key
        self.max_query_len = max_query_len
        self.max_clip_mismatch = max_clip_mismatch
        self.recipe = dict(recipe) if recipe else None
        self.video_store = build_store(video_store, kwargs.get('data_root'))
        self.query_store = build_store(query_store, kwargs.get('data_root'))
        if recipe:
            if self.video_store.meta:
                check_recipe(self.video_store.meta, recipe)
            # a text store records no frame fields (fps, clip_len, crop):
            # check it on the fields it states
            if self.query_store is not None and self.query_store.meta:
                check_recipe(self.query_store.meta, {
                    k: v
                    for k, v in recipe.items() if k in self.query_store.meta
                })
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_records(self) -> List[GroundingRecord]:
        """The annotation file as validated normalized records, read by the
        loader registered for ``ann_format``. A dataset whose annotations
        are not one file of records overrides this (the one override it
        needs)."""
        return load_grounding_annotations(
            self.ann_file,
            fmt=self.ann_format,
            window_policy=self.window_policy,
            **self.ann_kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for rec in self.load_records():
            if self.min_duration is not None and \
                    rec.duration < self.min_duration:
                continue
            if self.max_duration is not None and \
                    rec.duration > self.max_duration:
                continue
            info = rec.to_dict()
            info['video_key'] = rec.vid + self.vid_suffix
            data_list.append(info)
        return data_list

    # ------------------------------------------------------------------
    def _video(self, info: dict) -> np.ndarray:
        feat = self.video_store[info['video_key']]
        where = f"{self.video_store.root}: video {info['video_key']!r}"
        check_finite(feat, where)
        expected = info['duration'] / info['clip_len']
        if abs(feat.shape[0] - expected) > self.max_clip_mismatch:
            raise ValueError(
                f"{where} (qid {info['qid']!r}): features have T="
                f"{feat.shape[0]} clips but duration {info['duration']}s / "
                f"clip_len {info['clip_len']}s = {expected:g} clips")
        return feat

    def _query(self, info: dict) -> np.ndarray:
        key = str(info[self.query_key])
        feat = self.query_store[key]
        where = f'{self.query_store.root}: query {key!r}'
        check_finite(feat, where)
        if self.max_query_len is not None and \
                feat.shape[0] > self.max_query_len:
            raise ValueError(
                f'{where}: {feat.shape[0]} tokens exceed the text context of '
                f'{self.max_query_len} (qid {info["qid"]!r})')
        return feat

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        info['video_feat'] = self._video(info)
        if self.query_store is not None:
            info['query_feat'] = self._query(info)
        return self.pipeline(info)


def check_finite(feat: np.ndarray, where: str) -> None:
    """Raise naming ``where`` and the first bad row when ``feat`` holds NaN
    or inf (stored features have no padding, so none is legitimate)."""
    finite = np.isfinite(feat.reshape(feat.shape[0], -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f'{where}: NaN or inf in {len(bad)} of '
                         f'{len(finite)} rows (first at row {bad[0]})')

