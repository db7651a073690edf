"""Feature recipes: what decides the features of a store, and the check
that a store was made with the recipe a config expects.

A :class:`FeatureRecipe` names everything that decides CLIP features --
architecture, weights (their name and the checkpoint's hash), the k layers,
frame rate, crop, storage dtype, frame-sampling rules, what a frame's
features are (:data:`FRAME_FEATURES`) and the query-token recipe -- and is
written as ``meta.json`` next to every feature store.
Features of other encoders (e.g. GroundNLQ's InternVideo + EgoVLP) are
described with the same keys plus :data:`VIDEO_FEATURE_KEYS`.

:func:`check_recipe` compares a store's ``meta.json`` with the recipe a
config states; :func:`query_store_recipe` is the recipe a dataset's query
store must have, and :func:`missing_fields` what a stated recipe leaves
out. It does not import open_clip: datasets import it.
"""
import json
import math
from dataclasses import dataclass, fields
from numbers import Real
from typing import List, Optional

import numpy as np

from vtg_plugins.features.text_normalizers import build_text_normalizer
from .archs import canonical_arch
from .frames import RESIZE, SAMPLING

#: what a video store holds per frame (``FeatureRecipe.frame_features``)
#: -> its layout: every token of the last k visual blocks, before
#: ``ln_post`` (R²-Tuning's cache), or CLIP's image embedding (the CLS token
#: of the last block after ``ln_post``, through the visual projection:
#: open_clip ``encode_image``, not L2-normalised; ``k`` must be 1)
FRAME_FEATURES = {
    'last_k_tokens': '[T, k, P, C]',
    'image_embedding': '[T, E]',
}
VIDEO_LAYOUT = FRAME_FEATURES['last_k_tokens']
#: recipe fields that concern query features only (a video store's
#: ``meta.json`` has none of them)
QUERY_FIELDS = ('text_tokens', 'text_normalizer')
_FRAME_KEYS = ('fps', 'clip_len', 'crop', 'sampling', 'resize')
#: Recipe fields a feature extractor records (others are allowed).
RECIPE_KEYS = ('backbone', 'weights', 'weights_hash', 'layers', 'fps',
               'clip_len', 'crop', 'dtype')
#: video features of another encoder than CLIP: frames per second of the
#: source video, source frames between two features and covered by one,
#: feature width (GroundNLQ: 30, 16.043, 16.043, 2304)
VIDEO_FEATURE_KEYS = ('video_fps', 'feat_stride', 'feat_window', 'feat_dim')
#: keys of a video recipe that say nothing about its query features
VIDEO_ONLY_KEYS = _FRAME_KEYS + VIDEO_FEATURE_KEYS + ('layout',
                                                      'frame_features')


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def recipe_differences(store_meta: dict, expected: dict) -> List[str]:
    """``'key: store has X, expected Y'`` for each key of ``expected`` the
    store's recipe lacks or states otherwise (numbers with a relative
    tolerance of 1e-6, lists and tuples alike)."""
    missing = object()
    diffs = []
    for key, want in expected.items():
        have = store_meta.get(key, missing)
        if have is missing or not _same(have, want):
            have = '<absent>' if have is missing else repr(have)
            diffs.append(f'{key}: store has {have}, expected {want!r}')
    return diffs


def check_recipe(store_meta: dict,
                 expected: Optional[dict],
                 store_name: str = 'feature store') -> None:
    """Refuse a store whose recipe differs from the expected one.

    Only the keys of ``expected`` are compared (see
    :func:`recipe_differences`); a key the store lacks counts as a
    difference. ``expected=None`` skips the check.

    Raises:
        ValueError: naming the store, each differing field and both recipes.
    """
    if not expected:
        return
    diffs = recipe_differences(store_meta, expected)
    if diffs:
        raise ValueError(
            f'feature recipe mismatch for {store_name}: ' + '; '.join(diffs) +
            f'\n  store recipe:    {json.dumps(store_meta, sort_keys=True)}'
            f'\n  expected recipe: {json.dumps(expected, sort_keys=True)}')


def query_store_recipe(recipe: Optional[dict],
                       query_recipe: Optional[dict]) -> dict:
    """The recipe a query store must have, from a dataset's two recipes.

    A ``query_recipe`` naming a ``backbone`` describes query features of an
    encoder of their own (GroundNLQ's CLIP tokens beside InternVideo +
    EgoVLP video features): it is the query store's whole recipe. Otherwise
    the video features' CLIP made the queries too (R²-Tuning): the query
    store's recipe is ``recipe`` without the keys that describe frames or
    clips only (:data:`VIDEO_ONLY_KEYS`), with ``query_recipe`` (its
    query-token recipe and text normalizer) laid over it.
    """
    query_recipe = dict(query_recipe or {})
    if 'backbone' in query_recipe:
        return query_recipe
    out = {
        k: v
        for k, v in (recipe or {}).items() if k not in VIDEO_ONLY_KEYS
    }
    out.update(query_recipe)
    return out


def is_clip_backbone(backbone) -> bool:
    """Whether ``backbone`` names a CLIP architecture (of
    :data:`~vtg_plugins.features.CLIP_ARCHS`)."""
    try:
        canonical_arch(backbone)
    except (ValueError, TypeError):
        return False
    return True


def missing_fields(recipe: dict, modality: str) -> List[str]:
    """What a complete recipe of a ``modality`` store states and ``recipe``
    does not (``'fps|clip_len'`` for a missing rate).

    Complete: ``backbone``, ``weights``, ``dtype`` and, for video features,
    a rate (``fps`` or ``clip_len``) plus, of a CLIP, ``layers`` and
    ``crop``, of another encoder, ``feat_dim``; for query features,
    ``layers`` or ``k`` and both :data:`QUERY_FIELDS`.
    """
    if modality not in ('video', 'query'):
        raise ValueError(f"modality must be 'video' or 'query', got "
                         f'{modality!r}')
    need = ['backbone', 'weights', 'dtype']
    if modality == 'query':
        need += ['layers|k', *QUERY_FIELDS]
    else:
        need.append('fps|clip_len')
        need += ['layers', 'crop'] if is_clip_backbone(
            recipe.get('backbone')) else ['feat_dim']
    return [
        key for key in need
        if not any(alt in recipe for alt in key.split('|'))
    ]


def _number(recipe: dict, key: str) -> Optional[float]:
    """``recipe[key]`` when it is a positive number, else None."""
    value = recipe.get(key)
    ok = isinstance(value, Real) and not isinstance(value, bool)
    return float(value) if ok and value > 0 else None


def clip_period(recipe: dict) -> Optional[float]:
    """Seconds between two features: ``clip_len``, else ``1 / fps``; None
    when the recipe states no numeric rate (e.g. ``fps='auto'``)."""
    fps = _number(recipe, 'fps')
    return _number(recipe, 'clip_len') or (1 / fps if fps else None)


def recipe_conflicts(recipe: dict) -> List[str]:
    """The fields of a stated recipe that contradict each other: ``fps``
    and ``clip_len``, ``layers`` and ``k``, ``clip_len`` and
    ``feat_stride / video_fps``."""
    out = []
    fps, clip_len = _number(recipe, 'fps'), _number(recipe, 'clip_len')
    if fps and clip_len and not math.isclose(fps * clip_len, 1, rel_tol=1e-6):
        out.append(f'fps {recipe["fps"]} is not 1 / clip_len '
                   f'{recipe["clip_len"]}')
    if 'layers' in recipe and 'k' in recipe and \
            len(recipe['layers']) != recipe['k']:
        out.append(f'layers {recipe["layers"]} are not k={recipe["k"]} '
                   'blocks')
    stride = _number(recipe, 'feat_stride')
    video_fps = _number(recipe, 'video_fps')
    period = clip_period(recipe)
    if stride and video_fps and period and not math.isclose(
            stride / video_fps, period, rel_tol=1e-6):
        out.append(f'feat_stride {recipe["feat_stride"]} / video_fps '
                   f'{recipe["video_fps"]} is not the clip length {period:g}')
    return out


@dataclass
class FeatureRecipe:
    """What decides the features of a store.

    Args:
        backbone (str): CLIP architecture (OpenAI name, e.g. ``'ViT-B/32'``).
        k (int): last CLIP blocks kept.
        fps (float, optional): frames (= clips) per second;
            ``clip_len = 1 / fps``. None: a recipe of query features only
            (no video features, no frame fields in the query meta).
        crop (int): side of the centre crop fed to CLIP.
        dtype (str): storage dtype. Default ``'float16'`` (official cache).
        weights (str): the name of the CLIP weights, as a config states
            them. Default ``'openai'``: OpenAI's released checkpoint of
            ``backbone``, the weights of the official caches. The file
            actually used is identified by ``weights_hash``.
        weights_hash (str, optional): SHA-256 of the CLIP checkpoint file.
        sampling (str): frame-sampling rule (:data:`frames.SAMPLING`).
        resize (str): resize rule (:data:`frames.RESIZE`).
        text_tokens (str): query-token recipe, a name in
            :data:`~vtg_plugins.registry.QUERY_TOKEN_RECIPES` (see
            :mod:`~vtg_plugins.features.query_tokens`; it may limit ``k``).
            Default ``'sot_eot_last_k'`` (the last k blocks, SOT…EOT).
        text_normalizer (str, optional): name in
            :data:`~vtg_plugins.registry.TEXT_NORMALIZERS` applied to each
            query before tokenization (e.g. ``'canonical_question'``).
            Default None (as written).
        frame_features (str): what the video features of a frame are, a
            key of :data:`FRAME_FEATURES`: ``'last_k_tokens'`` (default,
            ``[T, k, P, C]``) or ``'image_embedding'`` (CLIP's projected
            image embedding, ``[T, E]``; needs ``k=1``). Written in the
            video store's ``meta.json``.
    """
    backbone: str = 'ViT-B/32'
    k: int = 4
    fps: Optional[float] = 0.5
    crop: int = 224
    dtype: str = 'float16'
    weights: str = 'openai'
    weights_hash: Optional[str] = None
    sampling: str = SAMPLING
    resize: str = RESIZE
    text_tokens: str = 'sot_eot_last_k'
    text_normalizer: Optional[str] = None
    frame_features: str = 'last_k_tokens'

    def __post_init__(self):
        self.backbone = canonical_arch(self.backbone)
        if self.fps is not None and not (isinstance(self.fps, Real)
                                         and self.fps > 0):
            raise ValueError(f'fps must be positive (a number), got '
                             f'{self.fps!r}')
        np.dtype(self.dtype)  # raises on an unknown dtype
        self.query_tokens.check_k(self.k)
        build_text_normalizer(self.text_normalizer)  # raises on unknown
        if self.frame_features not in FRAME_FEATURES:
            raise ValueError(f'unknown frame_features '
                             f'{self.frame_features!r}; expected one of '
                             f'{sorted(FRAME_FEATURES)}')
        if self.frame_features == 'image_embedding' and self.k != 1:
            raise ValueError(f"frame_features='image_embedding' is made "
                             f'from the last visual block: k must be 1, '
                             f'got {self.k}')

    @property
    def query_tokens(self):
        """The :class:`~vtg_plugins.features.query_tokens.QueryTokenRecipe`
        named by ``text_tokens`` (imports torch on first use)."""
        from .query_tokens import build_query_token_recipe
        return build_query_token_recipe(self.text_tokens)

    @property
    def clip_len(self) -> Optional[float]:
        return None if self.fps is None else 1.0 / self.fps

    def _require_fps(self, what: str) -> None:
        if self.fps is None:
            raise ValueError(f'this recipe has no fps (query features '
                             f'only): cannot make {what}')

    def frame_meta(self) -> dict:
        """The recipe of extracted frames (``meta.json`` of a frame dir)."""
        self._require_fps('frames')
        return dict(
            fps=self.fps,
            clip_len=self.clip_len,
            crop=self.crop,
            sampling=self.sampling,
            resize=self.resize,
            layout='uint8 [T, 3, S, S]')

    def store_meta(self, encoder, modality: str) -> dict:
        """The ``meta.json`` of a video (``'video'``) or query store.

        Holds :data:`RECIPE_KEYS` (``layers`` = 1-based CLIP block numbers
        of that tower) plus the layout, the frame rules and the open_clip
        model config; a query store adds :data:`QUERY_FIELDS` (its layout is
        that of its query-token recipe). A recipe without
        ``fps`` gives a query meta without the frame fields (``fps``,
        ``clip_len``, ``crop``, ``sampling``, ``resize``). A video meta
        also states ``frame_features`` (its layout is that key's of
        :data:`FRAME_FEATURES`).
        """
        if modality not in ('video', 'query'):
            raise ValueError(f"modality must be 'video' or 'query', got "
                             f'{modality!r}')
        video = modality == 'video'
        if video:
            self._require_fps('video features')
        meta = dict(
            backbone=self.backbone,
            weights=self.weights,
            weights_hash=self.weights_hash,
            layers=encoder.visual_block_ids
            if video else encoder.text_block_ids,
            k=self.k,
            fps=self.fps,
            clip_len=self.clip_len,
            crop=self.crop,
            dtype=self.dtype,
            layout=FRAME_FEATURES[self.frame_features]
            if video else self.query_tokens.layout,
            sampling=self.sampling,
            resize=self.resize,
            model_cfg=encoder.model_cfg)
        if video:
            meta['frame_features'] = self.frame_features
        else:
            meta.update({key: getattr(self, key) for key in QUERY_FIELDS})
        if self.fps is None:
            for key in _FRAME_KEYS:
                meta.pop(key)
        return meta

    @classmethod
    def from_meta(cls, meta: dict) -> 'FeatureRecipe':
        """Rebuild a recipe from a store's ``meta.json`` (a query meta
        without ``fps`` is a queries-only recipe, ``fps=None``)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in meta.items() if k in names}
        if 'text_tokens' in meta and 'fps' not in meta:
            kwargs['fps'] = None
        elif 'fps' not in meta and meta.get('clip_len'):
            # a video recipe may state its rate as seconds per clip only
            kwargs['fps'] = 1.0 / float(meta['clip_len'])
        return cls(**kwargs)
