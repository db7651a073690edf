"""The common evaluation layer: functional metrics reproducing the official
evaluators, ``BaseMetric`` wrappers (registered on import) and official
submission writers."""
from . import functional, submission
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = ['functional', 'submission'] + list(_metrics_all)
