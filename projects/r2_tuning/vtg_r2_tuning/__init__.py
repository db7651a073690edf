"""r2_tuning as a vtg_plugins project: importing it registers its modules."""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
from .models import R2Tuning  # noqa: F401  (registers R2Tuning in MODELS)

__all__ = ['R2Tuning']
