"""Feature recipes: turn a video or a query into the arrays a model was
trained on.

A :class:`FeatureRecipe` names everything that decides the features — CLIP
architecture and weights hash, the k layers, frame rate, crop, storage dtype
— and is written as ``meta.json`` next to every feature store
(DESIGN.md §4). :class:`FeatureExtractor` runs a recipe: the
``tools/data/extract_{frames,feat}.py`` tools use it to build stores, and the
inference API uses it on custom videos so they match the training features.

Arrays follow the official R²-Tuning cache (yeliudev/R2-Tuning
``tools/extract_feat.py``): video ``[T, k, P, Cv]``, query ``[L, k, Cq]``,
fp16 (read back as ``[T, k·P·Cv]`` / ``[L, k·Cq]``). With
``text_tokens='groundnlq'`` and ``text_normalizer='canonical_question'``
queries get GroundNLQ's CLIP token features instead (houzhijian/CONE
``feature_extraction/ego4d_clip_token_extractor.py``, referenced by
houzhijian/GroundNLQ ``feature_extraction/README.md``): ``[L, Cq]`` float32,
see :mod:`vtg_plugins.models.clip_encoder`. A recipe without ``fps``
describes query features only (their video features come from elsewhere).
"""
import os
from dataclasses import dataclass, fields, replace
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from vtg_plugins.datasets.text_normalizers import build_text_normalizer
from vtg_plugins.models.clip_encoder import (CLIPEncoder, canonical_arch,
                                             check_text_tokens, file_sha256)
from .frames import RESIZE, SAMPLING, read_video

PathLike = Union[str, os.PathLike]
VIDEO_LAYOUT = '[T, k, P, C]'
#: query layout of each ``text_tokens`` style
QUERY_LAYOUTS = {'sot_eot_last_k': '[L, k, C]', 'groundnlq': '[L, C]'}
_FRAME_KEYS = ('fps', 'clip_len', 'crop', 'sampling', 'resize')


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
        text_tokens (str): query features: ``'sot_eot_last_k'`` (R²-Tuning,
            default) or ``'groundnlq'`` (needs ``k=1``); see
            :data:`~vtg_plugins.models.clip_encoder.TEXT_TOKEN_STYLES`.
        text_normalizer (str, optional): name in
            :data:`~vtg_plugins.datasets.text_normalizers.TEXT_NORMALIZERS`
            applied to each query before tokenization (GroundNLQ:
            ``'canonical_question'``). Default None (as written).
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
        check_text_tokens(self.text_tokens, self.k)
        build_text_normalizer(self.text_normalizer)  # raises on unknown

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

    def store_meta(self, encoder: CLIPEncoder, modality: str) -> dict:
        """The ``meta.json`` of a video (``'video'``) or query store.

        Holds :data:`~vtg_plugins.datasets.feature_stores.RECIPE_KEYS`
        (``layers`` = 1-based CLIP block numbers of that tower) plus the
        layout, the frame rules and the open_clip model config; a query
        store adds ``text_tokens`` and ``text_normalizer``. A recipe without
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
            layout=VIDEO_LAYOUT if video else QUERY_LAYOUTS[self.text_tokens],
            sampling=self.sampling,
            resize=self.resize,
            model_cfg=encoder.model_cfg)
        if not video:
            meta.update(
                text_tokens=self.text_tokens,
                text_normalizer=self.text_normalizer)
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


class FeatureExtractor:
    """Run a :class:`FeatureRecipe` on videos, frames and queries.

    Args:
        recipe (FeatureRecipe): what to compute. ``recipe.weights_hash`` is
            filled from ``checkpoint``; a recipe that already names a hash
            must match it.
        checkpoint (str, optional): local CLIP weights (None: random init,
            for tests; the hash is then ``'random-init'``).
        device (str): torch device. Default ``'cpu'``.
        model_cfg (dict, optional): open_clip config replacing the built-in
            one of ``recipe.backbone`` (see :class:`CLIPEncoder`).
        precision (str): ``'fp32'`` or ``'fp16'`` compute.
        frame_batch (int): frames per CLIP forward. Default 128.
        video_backend (str): ``'auto'``, ``'decord'`` or ``'pyav'``.
    """

    def __init__(self,
                 recipe: FeatureRecipe,
                 checkpoint: Optional[PathLike] = None,
                 device: str = 'cpu',
                 model_cfg: Optional[dict] = None,
                 precision: str = 'fp32',
                 frame_batch: int = 128,
                 video_backend: str = 'auto'):
        weights_hash = (
            file_sha256(checkpoint)
            if checkpoint is not None else 'random-init')
        if recipe.weights_hash not in (None, weights_hash):
            raise ValueError(
                f'CLIP checkpoint {checkpoint} has hash {weights_hash}, but '
                f'the recipe was made with {recipe.weights_hash}')
        self.recipe = replace(recipe, weights_hash=weights_hash)
        self.encoder = CLIPEncoder(
            recipe.backbone,
            k=recipe.k,
            checkpoint=None if checkpoint is None else os.fspath(checkpoint),
            model_cfg=model_cfg,
            precision=precision,
            text_tokens=recipe.text_tokens).to(device)
        self.normalizer = build_text_normalizer(recipe.text_normalizer)
        if self.encoder.image_size != recipe.crop:
            raise ValueError(
                f'{recipe.backbone} takes {self.encoder.image_size}'
                f' px images but the recipe crops {recipe.crop}')
        self.frame_batch = frame_batch
        self.video_backend = video_backend

    def meta(self, modality: str) -> dict:
        """Store metadata for ``'video'`` or ``'query'`` features."""
        return self.recipe.store_meta(self.encoder, modality)

    def read_frames(self, video: PathLike) -> torch.Tensor:
        """``uint8 [T, 3, crop, crop]`` frames of a video file."""
        self.recipe._require_fps('video features')
        return read_video(video, self.recipe.fps, self.recipe.crop,
                          self.video_backend)

    def encode_frames(self, frames: Union[np.ndarray,
                                          torch.Tensor]) -> np.ndarray:
        """Video features of extracted frames.

        Args:
            frames: ``uint8 [T, 3, crop, crop]`` (extract_frames output).

        Returns:
            np.ndarray: ``[T, k, P, Cv]`` in ``recipe.dtype``.
        """
        frames = torch.as_tensor(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or len(frames) == 0:
            raise ValueError(f'frames must be non-empty uint8 [T, 3, S, S], '
                             f'got {frames.dtype} {tuple(frames.shape)}')
        out = [
            self.encoder.encode_frames(self.encoder.normalize(chunk)).cpu()
            for chunk in frames.split(self.frame_batch)
        ]
        return torch.cat(out).numpy().astype(self.recipe.dtype)

    def encode_video(self, video: PathLike) -> np.ndarray:
        """``[T, k, P, Cv]`` features of a video file."""
        return self.encode_frames(self.read_frames(video))

    def normalize_queries(self, queries: Sequence[str]) -> List[str]:
        """The queries in the recipe's canonical form (``text_normalizer``;
        unchanged without one)."""
        queries = [queries] if isinstance(queries, str) else list(queries)
        if self.normalizer is None:
            return queries
        return [self.normalizer(q) for q in queries]

    def tokenize_queries(self,
                         queries: Sequence[str],
                         ids: Optional[Sequence[str]] = None,
                         truncate: bool = False) -> torch.Tensor:
        """Normalized, tokenized queries ``[N, context_length]``; checks
        every query before any forward (see :meth:`CLIPEncoder.tokenize`).
        """
        return self.encoder.tokenize(
            self.normalize_queries(queries), ids=ids, truncate=truncate)

    def encode_queries(self,
                       queries: Sequence[str],
                       ids: Optional[Sequence[str]] = None,
                       batch_size: int = 64,
                       truncate: bool = False) -> List[np.ndarray]:
        """Query features in ``recipe.dtype``, one per query:
        ``'sot_eot_last_k'``: ``[L_i, k, Cq]`` (SOT … EOT);
        ``'groundnlq'``: ``[L_i, Cq]`` (between SOT and EOT).

        Raises:
            ValueError: naming each query id longer than the text context
                (unless ``truncate``), or without a GroundNLQ token.
        """
        tokens = self.tokenize_queries(queries, ids=ids, truncate=truncate)
        out = []
        for chunk in tokens.split(batch_size):
            out += [
                f.cpu().numpy().astype(self.recipe.dtype)
                for f in self.encoder.encode_tokens(chunk)
            ]
        return out

    def encode_query(self,
                     query: str,
                     qid: Optional[str] = None) -> np.ndarray:
        """Features of one query (see :meth:`encode_queries`)."""
        return self.encode_queries([query],
                                   ids=None if qid is None else [qid])[0]


def build_extractor_from_meta(meta: Dict, **kwargs) -> FeatureExtractor:
    """A :class:`FeatureExtractor` for the recipe of a store's ``meta.json``
    (``kwargs``: ``checkpoint``, ``device``, ... of the extractor; the
    store's ``model_cfg`` is reused unless given)."""
    kwargs.setdefault('model_cfg', meta.get('model_cfg'))
    return FeatureExtractor(FeatureRecipe.from_meta(meta), **kwargs)
