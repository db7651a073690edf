"""The feature recipes a checkpoint was trained on: what a video's and a
query's features must be made with for the inference API.

Both are resolved from the config, the model, the checkpoint's meta and the
caller, so a custom video or query gets the features of the training stores
(see :class:`~vtg_plugins.features.FeatureRecipe` for the fields).
"""
import contextlib
import copy
from dataclasses import fields
from typing import Any, Dict, Optional, Union

from mmengine.config import Config

from vtg_plugins.features import RECIPE_KEYS, FeatureRecipe, canonical_arch
from vtg_plugins.features.recipe import QUERY_FIELDS, VIDEO_FEATURE_KEYS

RecipeLike = Union[dict, FeatureRecipe, None]
_RATE_KEYS = ('fps', 'clip_len')


def evaluation_dataset_cfg(cfg: Config) -> dict:
    """The test (else val, else train) dataset config, wrappers such as
    ``RepeatDataset`` removed; ``{}`` when the config has none."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset')
        while isinstance(ds, dict) and 'dataset' in ds:
            ds = ds['dataset']
        if ds:
            return ds
    return {}


def _as_dict(recipe: RecipeLike) -> dict:
    if isinstance(recipe, FeatureRecipe):
        return {k: v for k, v in vars(recipe).items() if v is not None}
    return copy.deepcopy(dict(recipe or {}))


def _update(out: dict, source: dict) -> None:
    """``out.update(source)``; a source stating only one of ``fps`` /
    ``clip_len`` drops the other (stale) one."""
    stated = [k for k in _RATE_KEYS if k in source]
    if len(stated) == 1:
        for key in _RATE_KEYS:
            out.pop(key, None)
    out.update(source)


def resolve_recipe(cfg: Config,
                   model_recipe: Optional[dict] = None,
                   ckpt_meta: Optional[dict] = None,
                   recipe: RecipeLike = None) -> dict:
    """The recipe of the video features a checkpoint was trained on.

    Sources, lowest to highest precedence (later ones override earlier
    ones key by key):

    1. ``fps`` = 1 / the test dataset's ``ann_kwargs.clip_len`` (or
       ``clip_len``), when it states one;
    2. ``model_recipe``: the fields the model's own settings decide (its
       ``input_feature_recipe()``, e.g. a CLIP ``backbone`` and ``k``);
    3. the config's top-level ``recipe`` or, if it has none, the test
       dataset's ``recipe`` (what the datasets check the stores against);
    4. the checkpoint's ``meta['feature_recipe']``: the store recipe
       recorded at training time;
    5. the ``recipe`` argument.

    A source stating only one of ``fps`` / ``clip_len`` replaces both.
    Keys missing everywhere are not filled in (a feature extractor takes
    the :class:`FeatureRecipe` defaults).
    """
    out: Dict[str, Any] = {}
    ds = evaluation_dataset_cfg(cfg)
    clip_len = (ds.get('ann_kwargs') or {}).get('clip_len', ds.get('clip_len'))
    if clip_len:
        out['fps'] = 1.0 / float(clip_len)
    stated = cfg.get('recipe') or ds.get('recipe')
    trained = (ckpt_meta or {}).get('feature_recipe')
    for source in (model_recipe, stated, trained, recipe):
        _update(out, _as_dict(source))
    return out


def resolve_query_recipe(cfg: Config,
                         video_recipe: dict,
                         query_recipe: RecipeLike = None) -> dict:
    """The recipe the queries are encoded with.

    The config's query recipe is the test dataset's ``query_recipe`` with
    a top-level ``query_recipe`` laid over it. One that names a
    ``backbone`` describes query features of their own (e.g. GroundNLQ's
    CLIP token features beside InternVideo + EgoVLP video features): as
    ``tools/data/extract_feat.py --config`` makes the query store, it is
    laid over the recipe the config's datasets state (top-level ``recipe``,
    else the test dataset's). Otherwise the video features' CLIP encodes
    the queries too (e.g. R²-Tuning): ``video_recipe`` with the stated
    query-token recipe and text normalizer. The ``query_recipe`` argument
    overrides either key by key; fields stated nowhere take the
    :class:`FeatureRecipe` defaults, as in extraction.

    Returns:
        dict: ``video_recipe`` itself (the same object) when the caller
        states no query recipe and the config's adds nothing to it (one
        extractor encodes both).
    """
    stated = _as_dict(evaluation_dataset_cfg(cfg).get('query_recipe'))
    stated.update(_as_dict(cfg.get('query_recipe')))
    if 'backbone' in stated:
        out = _as_dict(
            cfg.get('recipe') or evaluation_dataset_cfg(cfg).get('recipe'))
    else:
        out = copy.deepcopy(video_recipe)
    out.update(stated)
    out.update(_as_dict(query_recipe))
    if not query_recipe and 'backbone' not in stated and \
            _same_query_fields(out, video_recipe):
        return video_recipe
    return out


def _same_query_fields(a: dict, b: dict) -> bool:
    """``a`` and ``b`` agree on the query-token recipe and normalizer (the
    :class:`FeatureRecipe` defaults where absent)."""
    defaults = {f.name: f.default for f in fields(FeatureRecipe)}
    return all(
        a.get(k, defaults[k]) == b.get(k, defaults[k]) for k in QUERY_FIELDS)


def clip_backbone(recipe: dict) -> Optional[str]:
    """The recipe's backbone as a CLIP architecture name, or None when it
    names none or another encoder (e.g. ``'internvideo+egovlp'``)."""
    with contextlib.suppress(ValueError, TypeError):
        return canonical_arch(recipe.get('backbone'))
    return None


def recipe_clip_len(recipe: dict) -> Optional[float]:
    """Seconds per clip: ``clip_len``, else ``1 / fps``, else None."""
    if recipe.get('clip_len'):
        return float(recipe['clip_len'])
    if recipe.get('fps'):
        return 1.0 / float(recipe['fps'])
    return None


def checked_fields(recipe: dict) -> dict:
    """The fields of ``recipe`` a store's ``meta.json`` is checked on
    (:data:`~vtg_plugins.features.RECIPE_KEYS` and, for features of
    another encoder than CLIP,
    :data:`~vtg_plugins.features.recipe.VIDEO_FEATURE_KEYS`)."""
    return {
        k: recipe[k]
        for k in RECIPE_KEYS + VIDEO_FEATURE_KEYS if k in recipe
    }
