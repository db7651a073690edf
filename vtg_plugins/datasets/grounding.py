"""Grounding datasets over feature stores (moment retrieval / highlights).

:class:`GroundingDataset` reads an annotation file (normalized or an
official format), checks the feature stores' recipe, and gives each sample
its video and query features, checked for the faults that make results
silently wrong (non-finite values, a clip count that disagrees with the
duration, a query longer than the text encoder's context). Method-specific
target construction and packing are pipeline transforms of each project.
"""
import json
import logging
import os.path as osp
from typing import Callable, List, Optional, Sequence, Set, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from vtg_plugins.features.recipe import (check_recipe, clip_period,
                                         missing_fields, query_store_recipe,
                                         recipe_conflicts)
from vtg_plugins.registry import DATASETS
from .annotations import GroundingRecord, load_grounding_annotations
from .feature_stores import FeatureStore, build_feature_store

#: warnings already logged (one per store or recipe and process)
_WARNED: Set[str] = set()


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


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        print_log(message, logger='current', level=logging.WARNING)


def _check_store(store: FeatureStore, expected: dict, modality: str,
                 source: str) -> None:
    """Refuse ``store`` when its ``meta.json`` differs from ``expected``;
    warn (once per store) when it has none or ``expected`` is incomplete."""
    if not expected:
        _warn_once(
            f'no-recipe {store.root}',
            f'{source} states no recipe of its {modality} features: the '
            f'{modality} store {store.root} is not checked')
        return
    missing = missing_fields(expected, modality)
    if missing:
        _warn_once(
            f'incomplete {modality} {json.dumps(expected, sort_keys=True)}',
            f'{source}: its {modality} recipe states no {missing}, so the '
            f'{modality} store {store.root} is not checked on them')
    if store.meta:
        check_recipe(store.meta, expected,
                     f'the {modality} store {store.root} of {source}')
        return
    _warn_once(
        f'no-meta {store.root}',
        f'{store.root}: no meta.json, so these {modality} features are '
        f'assumed to be {json.dumps(expected, sort_keys=True)}; to record '
        f'it: python tools/data/write_store_meta.py {store.root} --config '
        f'CONFIG --modality {modality}')


def check_store_recipes(video_store: FeatureStore,
                        query_store: Optional[FeatureStore],
                        recipe: Optional[dict],
                        query_recipe: Optional[dict] = None,
                        source: str = 'the dataset') -> None:
    """Check a dataset's stores against the recipes its config states.

    The video store is checked against ``recipe``, the query store against
    :func:`~vtg_plugins.features.recipe.query_store_recipe` of both. A
    store without ``meta.json`` (the official downloads) is accepted with
    one warning per store through MMEngine's logger, as are stores of a
    dataset that states no recipe or an incomplete one.

    Raises:
        ValueError: naming ``source`` when a recipe contradicts itself, or
            the store, both recipes and each differing field when a store's
            ``meta.json`` differs from its recipe.
    """
    checks = {'video': (video_store, dict(recipe or {}))}
    if query_store is not None:
        checks['query'] = (query_store,
                           query_store_recipe(recipe, query_recipe))
    for modality, (_, expected) in checks.items():
        conflicts = recipe_conflicts(expected)
        if conflicts:
            raise ValueError(f'{source}: its {modality} recipe contradicts '
                             f'itself: {"; ".join(conflicts)}')
    for modality, (store, expected) in checks.items():
        _check_store(store, expected, modality, source)


@DATASETS.register_module()
class GroundingDataset(BaseDataset):
    """One sample per query: a normalized record plus its features.

    Each data info holds the record fields (``qid``, ``vid``, ``query``,
    ``duration``, ``windows``, ``saliency``, ``clip_len``, ``extra``,
    ``source_qid``) and, after loading, ``video_feat`` (the video store's
    array, e.g. ``[T, k, P, C]`` for R²-Tuning caches or ``[T, D]``) and
    ``query_feat`` (``[L, ...]``), both as stored (e.g. fp16). ``qid`` (a
    str) keys everything inside; ``source_qid`` is the id as the annotation
    file typed it, which a pack transform copies into the data sample for
    the submission files (see :class:`GroundingRecord`).

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
        recipe (dict, optional): the recipe of the video features the
            config was trained on (``meta.json`` keys: ``backbone``,
            ``weights``, ``layers``, ``clip_len`` or ``fps``, ``crop``,
            ``dtype``, ...); a video store whose ``meta.json`` states other
            values is refused. Its rate must agree with
            ``ann_kwargs.clip_len``.
        query_recipe (dict, optional): the recipe of the query features:
            the query-token recipe and text normalizer of the video
            features' CLIP, or the whole recipe of another encoder (it
            names a ``backbone``); see :func:`check_store_recipes`.
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
                 query_recipe: Optional[dict] = None,
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
        self.query_recipe = dict(query_recipe) if query_recipe else None
        self.video_store = build_store(video_store, kwargs.get('data_root'))
        self.query_store = build_store(query_store, kwargs.get('data_root'))
        source = f'{type(self).__name__}({ann_file})'
        self._check_clip_len(source)
        check_store_recipes(self.video_store, self.query_store, self.recipe,
                            self.query_recipe, source)
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def _check_clip_len(self, source: str) -> None:
        """Refuse a recipe whose rate is not ``ann_kwargs.clip_len``."""
        clip_len = self.ann_kwargs.get('clip_len')
        period = clip_period(self.recipe or {})
        if clip_len and period and not np.isclose(
                float(clip_len), period, rtol=1e-6, atol=0):
            raise ValueError(
                f'{source}: ann_kwargs.clip_len is {clip_len} s but the '
                f"recipe's features are {period:g} s apart ({self.recipe})")

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
        """Data infos of the records kept by ``min_duration`` /
        ``max_duration``.

        Raises:
            ValueError: naming the file, when no record is left (saying
                how many each filter dropped) or, for a training split
                (``test_mode=False``), when a record has no ground truth
                (no window and no saliency, e.g. an unannotated test file).
        """
        records = self.load_records()
        dropped = {'min_duration': 0, 'max_duration': 0}
        data_list = []
        for rec in records:
            if self.min_duration is not None and \
                    rec.duration < self.min_duration:
                dropped['min_duration'] += 1
                continue
            if self.max_duration is not None and \
                    rec.duration > self.max_duration:
                dropped['max_duration'] += 1
                continue
            if not self.test_mode and not rec.windows and \
                    rec.saliency is None:
                raise ValueError(
                    f'{self.ann_file}: qid {rec.qid!r}: no ground truth (no '
                    'window, no saliency) in a training split '
                    '(test_mode=False); an unannotated split can only be '
                    'predicted (test_mode=True)')
            info = rec.to_dict()
            info['video_key'] = rec.vid + self.vid_suffix
            data_list.append(info)
        if not data_list:
            raise ValueError(
                f'{self.ann_file}: no query left of the {len(records)} in '
                f'the file: min_duration={self.min_duration} dropped '
                f"{dropped['min_duration']} (videos shorter), max_duration="
                f"{self.max_duration} dropped {dropped['max_duration']} "
                '(videos longer)')
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
