"""Inference: the moment-retrieval inferencer for every grounding model
(through the extension points of :mod:`.grounding_model`) and plots.
Feature recipes and extractors live in :mod:`vtg_plugins.features`."""
from .grounding_model import SlidingWindowGrounder
from .inferencer import MomentRetrievalInferencer
from .plot import plot_moments

__all__ = [
    'MomentRetrievalInferencer', 'SlidingWindowGrounder', 'plot_moments'
]
