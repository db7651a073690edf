"""groundnlq as a vtg_plugins project: importing it registers its modules."""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
from . import models  # noqa: F401
from .models import GroundNLQ

__all__ = ['GroundNLQ']
