"""TSTL (two-stage transformer learning over CAST's B-CAST experts) as a
vtg_plugins project.

Importing it registers the backbone, heads, routed recognizer, datasets,
transforms, samplers, optimizer constructor and metrics, and the MMAction2
recognition stack it reuses (``Recognizer3D``, ``ActionDataPreprocessor``,
``VideoDataset``, the decord pipeline, ``AccMetric``).
"""
import vtg_plugins  # noqa: F401  (registries and upstream fixes first)
import mmaction.datasets  # noqa: F401,I001  (VideoDataset and transforms)
import mmaction.engine  # noqa: F401  (optimizer constructors)
import mmaction.evaluation  # noqa: F401  (AccMetric)
import mmaction.models  # noqa: F401  (Recognizer3D, heads, blending)

from . import datasets, engine, models  # noqa: F401,E402
from . import evaluation  # noqa: F401,E402  (EpicKitchensMetric)
