"""HD-VILA's end-to-end parameter groups (``setup_e2e_optimizer`` and
``build_e2e_optimizer_w_lr_mul`` of ``src/optimization/utils.py``).

The trainable parameters fall in three sets, by a substring of their name:

=============  ====================================  ==================
set            names containing                      lr, weight decay
=============  ====================================  ==================
transformer    ``transformer``                       ``learning_rate``,
                                                     ``weight_decay``
cnn            ``cnn`` or ``grid_encoder``           ``cnn_learning_rate``,
                                                     ``cnn_weight_decay``
align          ``timesformer``                       ``align_learning_rate``,
                                                     ``align_weight_decay``
=============  ====================================  ==================

Each set is split into a *top* part (names containing its ``lr_mul_prefix``;
lr times ``lr_mul``) and the rest (official defaults: no prefix for the
transformer, ``grid_encoder`` with multiplier 1 for the cnn set, none for
align), and each part into decayed parameters and those whose name contains
``bias``, ``LayerNorm.bias``, ``LayerNorm.weight`` or ``embed`` (no weight
decay: BERT's embedding tables and TimeSformer's ``pos_embed`` /
``time_embed`` included, TimeSformer's ``norm1`` / ``norm2`` weights not).
The groups come in the official order (transformer top decay, top
no-decay, rest decay, rest no-decay, then cnn, then align), each with its
``lr`` and ``weight_decay``; empty groups are left out. Names are ours
(``video_encoder.cnn...``); the substrings classify them as the official
names (``cnn...``).

Frozen parameters are not optimised (official). A trainable parameter in
no set (the official code would silently never update it) or in two (torch
would refuse it) is an error naming it.
"""
from typing import Dict, List, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from vtg_plugins.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, \
    OPTIMIZERS

#: name substrings of each parameter set, in the official group order
PARAM_SETS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('transformer', ('transformer', )),
    ('cnn', ('cnn', 'grid_encoder')),
    ('align', ('timesformer', )),
)
#: name substrings of the parameters without weight decay (official)
NO_DECAY = ('bias', 'LayerNorm.bias', 'LayerNorm.weight', 'embed')
#: ``paramwise_cfg`` keys: the lr and weight decay of the cnn and align
#: sets (required) and the lr multipliers (official defaults below)
REQUIRED_KEYS = ('cnn_lr', 'cnn_weight_decay', 'align_lr',
                 'align_weight_decay')
DEFAULTS = dict(
    transformer_lr_mul=1.0,
    transformer_lr_mul_prefix='',
    cnn_lr_mul=1.0,
    cnn_lr_mul_prefix='grid_encoder')
PARAMWISE_KEYS = frozenset(REQUIRED_KEYS) | frozenset(DEFAULTS)


def param_set(name: str) -> str:
    """The set (``'transformer'``, ``'cnn'``, ``'align'``) of parameter
    ``name``.

    Raises:
        ValueError: the name matches no set, or more than one.
    """
    found = [
        label for label, keys in PARAM_SETS if any(k in name for k in keys)
    ]
    if len(found) != 1:
        rule = '; '.join(f'{label}: {" or ".join(keys)}'
                         for label, keys in PARAM_SETS)
        what = 'none' if not found else ' and '.join(found)
        raise ValueError(
            f'trainable parameter {name!r} falls in {what} of the HD-VILA '
            f'parameter sets ({rule}): rename it or freeze it')
    return found[0]


def split_groups(named: Sequence[Tuple[str, nn.Parameter]], lr: float,
                 weight_decay: float, lr_mul: float,
                 prefix: str) -> List[dict]:
    """The four official groups of one set: top decay, top no-decay, rest
    decay, rest no-decay (top: ``prefix`` in the name, lr x ``lr_mul``;
    no top part when ``prefix`` is empty); empty ones dropped."""
    top = [(n, p) for n, p in named if prefix and prefix in n]
    rest = [(n, p) for n, p in named if not (prefix and prefix in n)]
    groups = []
    for part, part_lr in ((top, lr_mul * lr), (rest, lr)):
        for decay in (True, False):
            params = [
                p for n, p in part if any(k in n for k in NO_DECAY) != decay
            ]
            if params:
                groups.append(
                    dict(
                        params=params,
                        lr=part_lr,
                        weight_decay=weight_decay if decay else 0.0))
    return groups


def e2e_param_groups(model: nn.Module, lr: float, weight_decay: float,
                     cnn_lr: float, cnn_weight_decay: float, align_lr: float,
                     align_weight_decay: float, transformer_lr_mul: float,
                     transformer_lr_mul_prefix: str, cnn_lr_mul: float,
                     cnn_lr_mul_prefix: str) -> List[dict]:
    """The parameter groups of the module doc for ``model``'s trainable
    parameters (``lr`` / ``weight_decay``: the transformer's)."""
    named: Dict[str, List[Tuple[str, nn.Parameter]]] = {
        label: []
        for label, _ in PARAM_SETS
    }
    for name, param in model.named_parameters():
        if param.requires_grad:
            named[param_set(name)].append((name, param))
    return (
        split_groups(named['transformer'], lr, weight_decay,
                     transformer_lr_mul, transformer_lr_mul_prefix) +
        split_groups(named['cnn'], cnn_lr, cnn_weight_decay, cnn_lr_mul,
                     cnn_lr_mul_prefix) +
        split_groups(named['align'], align_lr, align_weight_decay, 1.0, ''))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class HDVILAOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """The end-to-end groups of the module doc.

    The optimizer config gives the transformer's ``lr`` and
    ``weight_decay``; ``paramwise_cfg`` gives ``cnn_lr``,
    ``cnn_weight_decay``, ``align_lr``, ``align_weight_decay`` (official
    ``cnn_learning_rate`` ... ``align_weight_decay``, all required) and
    optionally ``transformer_lr_mul``, ``transformer_lr_mul_prefix``,
    ``cnn_lr_mul``, ``cnn_lr_mul_prefix`` (official defaults 1.0, '',
    1.0, 'grid_encoder'). Any other key is an error. The wrapper type
    (``OptimWrapper``, ``AmpOptimWrapper``, ``DeepSpeedOptimWrapper``) comes
    from the ``optim_wrapper`` config.
    """

    #: the ``paramwise_cfg`` keys it reads (config checks use it too)
    paramwise_keys = PARAMWISE_KEYS

    def __call__(self, model: nn.Module) -> OptimWrapper:
        cfg = dict(self.paramwise_cfg or {})
        unknown = sorted(set(cfg) - PARAMWISE_KEYS)
        missing = [k for k in REQUIRED_KEYS if k not in cfg]
        if unknown or missing:
            raise ValueError(
                'HDVILAOptimWrapperConstructor: paramwise_cfg ' +
                (f'has unknown keys {unknown} ' if unknown else '') +
                (f'misses {missing} ' if missing else '') +
                f'(keys: {sorted(PARAMWISE_KEYS)})')
        if hasattr(model, 'module'):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        if 'lr' not in optimizer_cfg:
            raise ValueError('HDVILAOptimWrapperConstructor: the optimizer '
                             'config needs an lr')
        weight_decay = optimizer_cfg.pop('weight_decay', 0.0)
        groups = e2e_param_groups(model, optimizer_cfg['lr'], weight_decay, **{
            **DEFAULTS,
            **cfg
        })
        if not groups:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter')
        print_log(
            f'HD-VILA e2e optimizer: {len(groups)} groups, '
            f'{sum(len(g["params"]) for g in groups)} trainable tensors',
            logger='current')
        optimizer_cfg['params'] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
