"""Data preparation: frames, feature recipes, extractors, recipe checks.

One package for everything that decides what a feature store holds, used by
``tools/data/`` (building stores) and by :mod:`vtg_plugins.apis` (encoding a
user's video with the recipe a checkpoint was trained on):

- :mod:`.frames`: decode a video, sample frames at a rate, resize and crop;
- :mod:`.archs`: CLIP architectures by their OpenAI names;
- :mod:`.recipe`: :class:`FeatureRecipe` (a store's ``meta.json``) and
  :func:`check_recipe`;
- :mod:`.query_tokens`: query-token recipes (which CLIP text tokens make a
  query's features), registered in ``QUERY_TOKEN_RECIPES``;
- :mod:`.clip`: the frozen open_clip encoder returning last-k block tokens;
- :mod:`.extractor`: :class:`FeatureExtractor`, a recipe run on videos and
  queries;
- :mod:`.store_writing`: resumable store writers, frame sources and
  default store names;
- :mod:`.config_recipes`: the stores and recipe a config's datasets state,
  layered with defaults and overrides into the recipe of an extraction run.

The open_clip modules load on first use, so importing the recipe check is
cheap.
"""
import importlib

from .archs import CLIP_ARCHS, canonical_arch
from .frames import (VideoDecodeError, decode_frames, find_videos, read_video,
                     resize_center_crop, sample_frame_indices)
from .recipe import RECIPE_KEYS, FeatureRecipe, check_recipe

_LAZY = {
    'CLIPEncoder': '.clip',
    'FeatureExtractor': '.extractor',
    'build_extractor_from_meta': '.extractor',
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'CLIP_ARCHS', 'canonical_arch', 'RECIPE_KEYS', 'FeatureRecipe',
    'check_recipe', 'VideoDecodeError', 'decode_frames', 'find_videos',
    'read_video', 'resize_center_crop', 'sample_frame_indices'
] + list(_LAZY)
