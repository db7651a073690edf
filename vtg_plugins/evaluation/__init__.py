"""The common evaluation layer: functional metrics reproducing the official
evaluators, ``BaseMetric`` wrappers and official submission readers/writers.

``functional`` and ``submission`` need numpy only, so scoring files offline
(``tools/evaluate.py``) loads neither torch nor mmengine. The ``BaseMetric``
wrappers of :mod:`.metrics` need both: they are imported (and registered in
``vtg_plugins.registry.METRICS``) by ``import vtg_plugins.evaluation.metrics``,
by the registry when a config names one, or on first access here
(``vtg_plugins.evaluation.QVHighlightsMetric``).
"""
from importlib import import_module

from . import functional, submission


def __getattr__(name: str):
    if name.startswith('_'):  # dunder probes (inspect, pickle) stay light
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    metrics = import_module(f'{__name__}.metrics')
    if name == 'metrics':
        return metrics
    if name in metrics.__all__:
        return getattr(metrics, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['functional', 'metrics', 'submission']
