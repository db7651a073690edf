"""Fixes for mmaction2 1.2.0 against the packages pinned beside it."""
from types import ModuleType

from ._hooks import after_import, placeholder_if_missing

DRN_PACKAGE = 'mmaction.models.localizers.drn'
_DRN_DOC = ('Placeholder for the DRN localizer that the mmaction2 1.2.0 '
            'wheel does not ship (vtg_plugins.compat.mmaction).')


def _fill_drn_package(package: ModuleType) -> None:
    package.__doc__ = _DRN_DOC


def _fill_drn_module(module: ModuleType) -> None:
    import torch

    class DRN(torch.nn.Module):
        """Placeholder: the DRN localizer is missing from the mmaction2
        wheel."""

        def __init__(self, *args, **kwargs):
            raise NotImplementedError(
                'mmaction2 1.2.0 is installed without '
                'mmaction/models/localizers/drn; DRN is unavailable. '
                'Install mmaction2 from source to use it.')

    module.__doc__ = _DRN_DOC
    module.DRN = DRN


def add_missing_drn_module() -> None:
    """mmaction2 1.2.0's wheel lacks ``mmaction/models/localizers/drn``.

    ``mmaction.models.localizers`` imports ``.drn.drn.DRN`` unconditionally,
    so ``import mmaction.models`` fails with ``ModuleNotFoundError``. Supply
    placeholder modules, whose ``DRN`` raises when built, for as long as no
    real ``drn`` package is found (a source install of mmaction2 has one).
    """
    placeholder_if_missing(DRN_PACKAGE, _fill_drn_package, is_package=True)
    placeholder_if_missing(DRN_PACKAGE + '.drn', _fill_drn_module)


def _alias_numpy_functions(_module: ModuleType) -> None:
    import numpy as np
    if not hasattr(np, 'in1d'):

        def in1d(ar1, ar2, assume_unique=False, invert=False):
            return np.isin(
                np.asarray(ar1).ravel(),
                ar2,
                assume_unique=assume_unique,
                invert=invert)

        np.in1d = in1d
    if not hasattr(np, 'trapz'):
        np.trapz = np.trapezoid


def alias_removed_numpy_functions() -> None:
    """numpy 2.4 removed ``np.in1d`` and ``np.trapz``; MMAction2's metrics
    (``evaluation/metrics/multimodal_metric.py``,
    ``evaluation/functional/accuracy.py``) still call them.

    Once ``mmaction.evaluation`` is imported, alias them to ``np.isin``
    (flattened, as ``in1d`` returned) and ``np.trapezoid``.
    """
    after_import('mmaction.evaluation', _alias_numpy_functions)


def _reexport_pytorch_utils(modeling_utils: ModuleType) -> None:
    from transformers import pytorch_utils
    for name in ('apply_chunking_to_forward',
                 'find_pruneable_heads_and_indices', 'prune_linear_layer'):
        if not hasattr(modeling_utils, name) and hasattr(pytorch_utils, name):
            setattr(modeling_utils, name, getattr(pytorch_utils, name))


def reexport_transformers_helpers() -> None:
    """mmaction2 1.2.0's ``models/multimodal/vindlu/modeling_bert.py``
    imports ``apply_chunking_to_forward``, ``find_pruneable_heads_and_indices``
    and ``prune_linear_layer`` from ``transformers.modeling_utils``; newer
    transformers (4.57 here) keep them only in ``transformers.pytorch_utils``,
    so ``import mmaction.models`` fails whenever transformers is installed.
    Re-export them into ``modeling_utils`` once it is imported.
    """
    after_import('transformers.modeling_utils', _reexport_pytorch_utils)


def apply() -> None:
    """Install the mmaction2 fixes (each waits for its module)."""
    add_missing_drn_module()
    alias_removed_numpy_functions()
    reexport_transformers_helpers()
