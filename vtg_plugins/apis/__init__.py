"""Inference: the moment-retrieval inferencer for every grounding model
(through the extension points of :mod:`.grounding_model`), zero-shot
embeddings of every dual encoder (through the embedders of
:mod:`.dual_encoder`) and plots. Feature recipes and extractors live in
:mod:`vtg_plugins.features`."""
from .dual_encoder import (ZeroShotEmbedder, build_zero_shot_embedder,
                           encode_text, encode_video, init_dual_encoder,
                           similarity)
from .grounding_model import SlidingWindowGrounder
from .inferencer import MomentRetrievalInferencer
from .plot import plot_moments
from .recognition import init_recognizer, recognize_video

__all__ = [
    'MomentRetrievalInferencer', 'SlidingWindowGrounder', 'ZeroShotEmbedder',
    'build_zero_shot_embedder', 'encode_text', 'encode_video',
    'init_dual_encoder', 'init_recognizer', 'plot_moments', 'recognize_video',
    'similarity'
]
