"""The example project: the smallest complete vtg_plugins method plugin.

Importing it registers its dataset, transform, model and metric in the
``vtg_plugins`` registries (scope ``vtg_plugins``), after the shared layer
itself. A config reaches it through
``custom_imports = dict(imports=['vtg_plugins', 'vtg_example_project'])``;
``vtg_plugins.utils.list_projects()`` finds it through its entry point.
"""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
from .datasets import ExampleMomentDataset, PackExampleInputs
from .evaluation import ExampleMomentMetric
from .models import ExampleMomentModel

__all__ = [
    'ExampleMomentDataset', 'PackExampleInputs', 'ExampleMomentModel',
    'ExampleMomentMetric'
]
