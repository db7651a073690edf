"""R²-Tuning (Liu et al., ECCV 2024) as a vtg_plugins project.

Importing it registers the model, datasets and transforms of the project
and the shared modules it uses (grounding datasets and feature stores,
metrics, hooks).
"""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
import vtg_plugins.datasets  # noqa: F401
import vtg_plugins.engine  # noqa: F401
import vtg_plugins.evaluation.metrics  # noqa: F401
from .datasets import (PackR2Inputs, R2GroundingTargets, R2HighlightTargets,
                       TVSumDataset, YouTubeHighlightsDataset)
from .models import R2Tuning

__all__ = [
    'R2Tuning', 'PackR2Inputs', 'R2GroundingTargets', 'R2HighlightTargets',
    'TVSumDataset', 'YouTubeHighlightsDataset'
]
