"""A zero-shot CLIP similarity baseline for moment retrieval and highlight
detection, as a vtg_plugins project.

Importing it registers the model (``CLIPZeroShotGrounder``) and its packing
transform, and the shared modules its configs use (grounding datasets and
feature stores, metrics).
"""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
import vtg_plugins.datasets  # noqa: F401
import vtg_plugins.evaluation.metrics  # noqa: F401
from .datasets import PackZeroShotInputs
from .models import CLIPZeroShotGrounder

__all__ = ['CLIPZeroShotGrounder', 'PackZeroShotInputs']
