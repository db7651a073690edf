"""GroundNLQ (Hou et al., arXiv 2306.15255) as a vtg_plugins project.

Importing it registers the model, the optimizer constructor, the fine-tuning
initializer, the Ego4D NLQ dataset and transforms, and the shared modules it
uses (grounding datasets and feature stores, metrics, hooks).
"""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
import vtg_plugins.datasets  # noqa: F401
import vtg_plugins.engine  # noqa: F401
import vtg_plugins.evaluation.metrics  # noqa: F401
from . import datasets, engine, models  # noqa: F401
from .datasets import Ego4DNLQDataset, NLQTemporalJitter, PackGroundNLQInputs
from .engine import GroundNLQOptimWrapperConstructor
from .engine.pretrained_init import PretrainedWithoutHeads
from .models import GroundNLQ

__all__ = [
    'GroundNLQ', 'GroundNLQOptimWrapperConstructor', 'PretrainedWithoutHeads',
    'Ego4DNLQDataset', 'NLQTemporalJitter', 'PackGroundNLQInputs'
]
