"""Feature recipes: what decides the features of a store, and the check
that a store was made with the recipe a config expects.

A :class:`FeatureRecipe` names everything that decides the features -- CLIP
architecture and weights hash, the k layers, frame rate, crop, storage dtype,
frame-sampling rules and the query-token recipe -- and is written as
``meta.json`` next to every feature store. :func:`check_recipe` compares a
store's ``meta.json`` with the recipe a config states. It does not import
open_clip: datasets import it.
"""
import json
import math
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from vtg_plugins.features.text_normalizers import build_text_normalizer
from .archs import canonical_arch
from .frames import RESIZE, SAMPLING

VIDEO_LAYOUT = '[T, k, P, C]'
#: recipe fields that concern query features only (a video store's
#: ``meta.json`` has none of them)
QUERY_FIELDS = ('text_tokens', 'text_normalizer')
_FRAME_KEYS = ('fps', 'clip_len', 'crop', 'sampling', 'resize')
#: Recipe fields a feature extractor records (others are allowed).
RECIPE_KEYS = ('backbone', 'weights_hash', 'layers', 'fps', 'clip_len', 'crop',
               'dtype')


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if (isinstance(a, (int, float)) and isinstance(b, (int, float))
            and not isinstance(a, bool) and not isinstance(b, bool)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def check_recipe(store_meta: dict,
                 expected: Optional[dict],
                 store_name: str = 'feature store') -> None:
    """Refuse a store whose recipe differs from the expected one.

    Only the keys of ``expected`` are compared (numbers with a relative
    tolerance of 1e-6, lists and tuples alike); a key the store lacks counts
    as a difference. ``expected=None`` skips the check.

    Raises:
        ValueError: naming the store, each differing field and both recipes.
    """
    if not expected:
        return
    missing = object()
    diffs = []
    for key, want in expected.items():
        have = store_meta.get(key, missing)
        if have is missing or not _same(have, want):
            have = '<absent>' if have is missing else repr(have)
            diffs.append(f'{key}: store has {have}, expected {want!r}')
    if diffs:
        raise ValueError(
            f'feature recipe mismatch for {store_name}: ' + '; '.join(diffs) +
            f'\n  store recipe:    {json.dumps(store_meta, sort_keys=True)}'
            f'\n  expected recipe: {json.dumps(expected, sort_keys=True)}')


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
    """
    backbone: str = 'ViT-B/32'
    k: int = 4
    fps: Optional[float] = 0.5
    crop: int = 224
    dtype: str = 'float16'
    weights_hash: Optional[str] = None
    sampling: str = SAMPLING
    resize: str = RESIZE
    text_tokens: str = 'sot_eot_last_k'
    text_normalizer: Optional[str] = None

    def __post_init__(self):
        self.backbone = canonical_arch(self.backbone)
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f'fps must be positive, got {self.fps}')
        np.dtype(self.dtype)  # raises on an unknown dtype
        self.query_tokens.check_k(self.k)
        build_text_normalizer(self.text_normalizer)  # raises on unknown

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
        ``clip_len``, ``crop``, ``sampling``, ``resize``).
        """
        if modality not in ('video', 'query'):
            raise ValueError(f"modality must be 'video' or 'query', got "
                             f'{modality!r}')
        video = modality == 'video'
        if video:
            self._require_fps('video features')
        meta = dict(
            backbone=self.backbone,
            weights_hash=self.weights_hash,
            layers=encoder.visual_block_ids
            if video else encoder.text_block_ids,
            k=self.k,
            fps=self.fps,
            clip_len=self.clip_len,
            crop=self.crop,
            dtype=self.dtype,
            layout=VIDEO_LAYOUT if video else self.query_tokens.layout,
            sampling=self.sampling,
            resize=self.resize,
            model_cfg=encoder.model_cfg)
        if not video:
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
        return cls(**kwargs)
