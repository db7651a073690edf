"""Feature extraction: turn a video or a query into the arrays a model was
trained on.

A :class:`FeatureRecipe` names everything that decides the features — CLIP
architecture and weights hash, the k layers, frame rate, crop, storage
dtype, query-token recipe and text normalizer — and is written as
``meta.json`` next to every feature store. :class:`FeatureExtractor` runs a
recipe: the ``tools/data/extract_{frames,feat}.py`` tools use it to build
stores, and the inference API uses it on custom videos so they match the
training features.

Video arrays follow the official R²-Tuning cache (yeliudev/R2-Tuning
``tools/extract_feat.py``): ``[T, k, P, Cv]`` (read back as
``[T, k·P·Cv]``), or are CLIP's image embeddings ``[T, E]`` for a recipe
with ``frame_features='image_embedding'``. Query arrays are those of the
recipe's ``text_tokens`` (:mod:`vtg_plugins.features.query_tokens`), e.g.
``[L, k, Cq]`` for the default ``'sot_eot_last_k'``, after the recipe's
``text_normalizer``. A
recipe without ``fps`` describes query features only (their video features
come from elsewhere).
"""
import os
from dataclasses import replace
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from vtg_plugins.features.text_normalizers import build_text_normalizer
from .clip import CLIPEncoder, file_sha256
from .frames import read_video
from .recipe import FeatureRecipe

PathLike = Union[str, os.PathLike]


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
            np.ndarray: ``[T, k, P, Cv]`` (``[T, E]`` with
            ``recipe.frame_features='image_embedding'``) in
            ``recipe.dtype``.
        """
        frames = torch.as_tensor(frames)
        if frames.dtype != torch.uint8 or frames.ndim != 4 or len(frames) == 0:
            raise ValueError(f'frames must be non-empty uint8 [T, 3, S, S], '
                             f'got {frames.dtype} {tuple(frames.shape)}')
        encode = self.encoder.encode_frames
        if self.recipe.frame_features == 'image_embedding':
            encode = self.encoder.encode_image_embeddings
        out = [
            encode(self.encoder.normalize(chunk)).cpu()
            for chunk in frames.split(self.frame_batch)
        ]
        return torch.cat(out).numpy().astype(self.recipe.dtype)

    def encode_video(self, video: PathLike) -> np.ndarray:
        """Features of a video file (see :meth:`encode_frames`)."""
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
        """Query features in ``recipe.dtype``, one per query, in the layout
        of the recipe's ``text_tokens`` (``'sot_eot_last_k'``:
        ``[L_i, k, Cq]``, tokens SOT … EOT; ``'eot_ln_final_projected'``:
        ``[1, E]``, CLIP's text embedding).

        Raises:
            ValueError: naming each query id the query-token recipe cannot
                encode (e.g. longer than the text context, unless
                ``truncate``).
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
