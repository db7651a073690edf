"""groundnlq as a vtg_plugins project: importing it registers its modules."""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
from . import engine, models  # noqa: F401
from .engine import GroundNLQOptimWrapperConstructor
from .models import GroundNLQ

__all__ = ['GroundNLQ', 'GroundNLQOptimWrapperConstructor']
