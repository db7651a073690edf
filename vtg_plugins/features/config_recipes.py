"""What a config states about its feature stores: where they are, which
backend, and the recipe their features were made with.

A dataset config names a ``video_store`` and a ``query_store`` (store
configs relative to ``data_root``), the ``recipe`` of the video features
and the ``query_recipe`` of the query features (the query-token recipe of
the same CLIP, or the whole recipe of another encoder; see
:func:`~vtg_plugins.features.recipe.query_store_recipe`). A config may lay
a top-level ``query_recipe`` over its datasets' (GroundNLQ states its CLIP
token recipe there for the tools and the inferencer). Recipes use the keys
of a store's ``meta.json``;
:func:`recipe_kwargs` turns them into :class:`FeatureRecipe` arguments and
:func:`run_recipe` layers defaults, a config and explicit overrides into
the recipe of an extraction run.
"""
import math
import os.path as osp
from dataclasses import dataclass, field, fields
from typing import List, Optional

from vtg_plugins.datasets.feature_stores import BACKENDS
from .recipe import (QUERY_FIELDS, FeatureRecipe, check_recipe,
                     is_clip_backbone, query_store_recipe)

_SPLITS = ('train', 'val', 'test')
_FIELDS = {f.name for f in fields(FeatureRecipe)}


@dataclass
class StoreSpec:
    """A store of a config: its path (``data_root`` applied) and backend."""
    path: str
    backend: str


@dataclass
class StatedFeatures:
    """The features the datasets of one split of a config state.

    Attributes:
        source (str): ``'CONFIG (split)'``, named in errors.
        recipe (dict): the datasets' ``recipe`` (``meta.json`` keys), plus
            ``clip_len`` from ``ann_kwargs`` where the recipe names no rate.
        query_recipe (dict): the datasets' ``query_recipe`` with the
            config's top-level one laid over it.
        video_store / query_store (StoreSpec, optional): the stores.
        ann_format (str, optional): the datasets' annotation format.
    """
    source: str
    recipe: dict = field(default_factory=dict)
    query_recipe: dict = field(default_factory=dict)
    video_store: Optional[StoreSpec] = None
    query_store: Optional[StoreSpec] = None
    ann_format: Optional[str] = None


def _leaf_datasets(ds: dict) -> List[dict]:
    """The dataset configs inside wrappers (``dataset`` / ``datasets``)."""
    if 'dataset' in ds:
        return _leaf_datasets(ds['dataset'])
    if 'datasets' in ds:
        return [leaf for d in ds['datasets'] for leaf in _leaf_datasets(d)]
    return [ds]


def _store_spec(store: Optional[dict], data_root: str,
                source: str) -> Optional[StoreSpec]:
    if store is None:
        return None
    backends = {
        reader.__name__: name
        for name, (reader, _) in BACKENDS.items()
    }
    if store.get('type') not in backends:
        raise ValueError(f'{source}: store type {store.get("type")!r} has no '
                         f'writer; expected one of {sorted(backends)}')
    root = str(store['root'])
    if data_root and not osp.isabs(root):
        root = osp.join(data_root, root)
    return StoreSpec(root, backends[store['type']])


def _same_in_all(leaves: List[dict], key: str, source: str, convert=None):
    values = []
    for leaf in leaves:
        value = leaf.get(key)
        value = convert(value, leaf) if convert else value
        if value not in values:
            values.append(value)
    if len(values) > 1:
        raise ValueError(f'{source}: the datasets state different {key}: '
                         f'{values}; extract each store separately')
    return values[0]


def _stated_recipe(ds: dict) -> dict:
    recipe = dict(ds.get('recipe') or {})
    clip_len = (ds.get('ann_kwargs') or {}).get('clip_len')
    if clip_len and not {'fps', 'clip_len'} & set(recipe):
        recipe['clip_len'] = clip_len
    return recipe


def stated_features(cfg,
                    split: str = 'train',
                    filename: str = 'config') -> StatedFeatures:
    """The stores, recipe and annotation format of ``split``'s datasets.

    Args:
        cfg (Config | dict): an MMEngine config.
        split (str): ``'train'``, ``'val'`` or ``'test'``: the dataloader
            whose datasets are read (wrappers such as ``RepeatDataset`` and
            ``ConcatDataset`` are looked through).
        filename (str): the config's file, named in errors.

    Raises:
        ValueError: naming the config when the split has no dataset, or its
            datasets disagree on a store, the recipe or the format.
    """
    if split not in _SPLITS:
        raise ValueError(f'split must be one of {_SPLITS}, got {split!r}')
    source = f'{filename} ({split})'
    if hasattr(cfg, 'to_dict'):  # Config / ConfigDict -> plain dicts
        cfg = cfg.to_dict()
    loader = cfg.get(f'{split}_dataloader') or {}
    if not loader.get('dataset'):
        raise ValueError(f'{source}: the config has no {split}_dataloader '
                         'dataset')
    leaves = _leaf_datasets(loader['dataset'])
    stores = {}
    for key in ('video_store', 'query_store'):
        stores[key] = _same_in_all(
            leaves, key, source, lambda store, leaf: _store_spec(
                store, leaf.get('data_root', ''), source))
    query_recipe = dict(
        _same_in_all(leaves, 'query_recipe', source) or {},
        **(cfg.get('query_recipe') or {}))
    return StatedFeatures(
        source=source,
        recipe=_same_in_all(leaves, 'recipe', source,
                            lambda _, leaf: _stated_recipe(leaf)),
        query_recipe=query_recipe,
        video_store=stores['video_store'],
        query_store=stores['query_store'],
        ann_format=_same_in_all(leaves, 'ann_format', source))


def recipe_kwargs(recipe: dict, source: str = 'recipe') -> dict:
    """:class:`FeatureRecipe` arguments (and ``model_cfg``) of a recipe in
    ``meta.json`` keys: its fields as they are, ``layers`` -> ``k``,
    ``clip_len`` -> ``fps``. Other keys (e.g. ``layout``) are not
    arguments; compare the extractor's meta with the recipe
    (:func:`~vtg_plugins.features.check_recipe`) to check them.

    Raises:
        ValueError: naming ``source`` when ``layers`` and ``k``, or
            ``clip_len`` and ``fps``, disagree.
    """
    out = {k: v for k, v in recipe.items() if k in _FIELDS or k == 'model_cfg'}
    if 'layers' in recipe:
        k = len(recipe['layers'])
        if out.setdefault('k', k) != k:
            raise ValueError(f'{source}: layers {recipe["layers"]} are not '
                             f'k={out["k"]} blocks')
    if recipe.get('clip_len'):
        fps = 1.0 / float(recipe['clip_len'])
        if not math.isclose(out.setdefault('fps', fps), fps, rel_tol=1e-6):
            raise ValueError(f'{source}: clip_len {recipe["clip_len"]} '
                             f'disagrees with fps {out["fps"]}')
    return out


#: what an override decides in a store's ``meta.json`` (so the config's
#: value of those keys is not required of the run's stores)
OVERRIDE_KEYS = {
    'backbone': ('backbone', ),
    'k': ('k', 'layers'),
    'dtype': ('dtype', ),
    'fps': ('fps', 'clip_len'),
    'text_tokens': ('text_tokens', 'layout'),
    'text_normalizer': ('text_normalizer', ),
    'model_cfg': ('model_cfg', 'crop'),
}


@dataclass
class RunRecipe:
    """The recipe of an extraction run and what the config requires of it.

    Attributes:
        kwargs (dict): :class:`FeatureRecipe` arguments (the query side's;
            ``fps`` = the run's rate when known).
        model_cfg (dict, optional): the open_clip model config.
        expect (dict): the config's ``recipe``, required of the video
            store, overridden keys left out.
        expect_query (dict): the config's ``query_recipe``, overridden keys
            left out; the query store is required to meet
            :func:`~vtg_plugins.features.recipe.query_store_recipe` of both,
            as datasets check it.
        source (str): where the expectations come from, for errors.
    """
    kwargs: dict
    model_cfg: Optional[dict] = None
    expect: dict = field(default_factory=dict)
    expect_query: dict = field(default_factory=dict)
    source: str = 'the defaults'

    def check(self, meta: dict, modality: str) -> None:
        """Refuse a store ``meta`` the config's datasets would refuse.

        Raises:
            ValueError: naming the differing fields (see
                :func:`~vtg_plugins.features.check_recipe`).
        """
        what = f'the {modality} features of this run (recipe of ' \
            f'{self.source})'
        expected = self.expect if modality == 'video' else \
            query_store_recipe(self.expect, self.expect_query)
        check_recipe(meta, expected, what)


def run_recipe(stated: Optional[StatedFeatures],
               overrides: Optional[dict] = None,
               with_video: bool = True) -> RunRecipe:
    """The recipe of a run: the :class:`FeatureRecipe` defaults, then the
    recipe ``stated`` by a config (``recipe``, and ``query_recipe`` for the
    query side), then ``overrides`` (FeatureRecipe fields or
    ``model_cfg``; see :data:`OVERRIDE_KEYS`).

    Args:
        stated (StatedFeatures, optional): see :func:`stated_features`.
        overrides (dict, optional): explicit values (e.g. command flags).
        with_video (bool): the run also makes the video store, so its query
            side may differ from the video side in query fields only.

    Raises:
        ValueError: an unknown override, or (``with_video``) video
            features of another encoder than CLIP or a ``query_recipe``
            that needs other CLIP blocks, dtype, rate, ... than the video
            store.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(OVERRIDE_KEYS)
    if unknown:
        raise ValueError(f'cannot override {sorted(unknown)}; known: '
                         f'{sorted(OVERRIDE_KEYS)}')
    video = dict(stated.recipe) if stated else {}
    query_recipe = dict(stated.query_recipe) if stated else {}
    source = stated.source if stated else 'the defaults'
    kw_video = dict(recipe_kwargs(video, source), **overrides)
    kwargs = dict(
        recipe_kwargs(dict(video, **query_recipe), source), **overrides)
    if with_video and not is_clip_backbone(
            kw_video.get('backbone', FeatureRecipe.backbone)):
        raise ValueError(
            f'{source}: its video features are not CLIP features (backbone '
            f'{kw_video["backbone"]!r}); only their query store can be made '
            'here (--queries-only)')
    if with_video:
        defaults = {f.name: f.default for f in fields(FeatureRecipe)}
        differ = [
            n for n in sorted(_FIELDS | {'model_cfg'})
            if n not in QUERY_FIELDS and kw_video.get(n, defaults.get(n)) !=
            kwargs.get(n, defaults.get(n))
        ]
        if differ:
            raise ValueError(
                f'{source}: query_recipe {query_recipe} differs from the '
                f'video recipe on {differ}; make the query store alone')
    skip = {key for name in overrides for key in OVERRIDE_KEYS[name]}
    model_cfg = kwargs.pop('model_cfg', None)
    return RunRecipe(
        kwargs=kwargs,
        model_cfg=model_cfg,
        expect={
            k: v
            for k, v in video.items() if k not in skip
        },
        expect_query={
            k: v
            for k, v in query_recipe.items() if k not in skip
        },
        source=source)
