"""Optimizer parameter groups of GroundNLQ.

The official ``make_optimizer`` (``libs/utils/train_utils.py`` of
github.com/houzhijian/GroundNLQ, after minGPT) decays only the weights of
convolutions and linear layers; biases, LayerNorm affine parameters, the
per-level ``Scale`` and the ``AffineDropPath`` LayerScale are not decayed.
MMEngine's ``norm_decay_mult`` does not recognise GroundNLQ's channel
LayerNorm (not an ``nn.LayerNorm``), hence this constructor.
"""
from typing import List, Tuple

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from vtg_plugins.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, \
    OPTIMIZERS


def split_decay_params(
        model: nn.Module) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
    """``(decay, no_decay)`` parameters, each sorted by name like the
    official groups: decay = ``weight`` of ``nn.Conv1d`` / ``nn.Linear``."""
    decay, no_decay = {}, {}
    for mod_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            full = f'{mod_name}.{name}' if mod_name else name
            is_decay = name == 'weight' and isinstance(module,
                                                       (nn.Conv1d, nn.Linear))
            (decay if is_decay else no_decay)[full] = param
    return ([decay[k]
             for k in sorted(decay)], [no_decay[k] for k in sorted(no_decay)])


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroundNLQOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Two parameter groups: conv/linear weights with the optimizer's
    ``weight_decay``, everything else with 0. ``paramwise_cfg`` is not
    supported (it would silently change the groups)."""

    #: reads no ``paramwise_cfg`` key (config checks use it too)
    paramwise_keys = frozenset()

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if self.paramwise_cfg:
            raise ValueError('GroundNLQOptimWrapperConstructor does not take '
                             f'paramwise_cfg, got {self.paramwise_cfg}')
        if hasattr(model, 'module'):
            model = model.module
        decay, no_decay = split_decay_params(model)
        optimizer_cfg = self.optimizer_cfg.copy()
        weight_decay = optimizer_cfg.pop('weight_decay', 0.0)
        optimizer_cfg['params'] = [
            dict(params=decay, weight_decay=weight_decay),
            dict(params=no_decay, weight_decay=0.0)
        ]
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
