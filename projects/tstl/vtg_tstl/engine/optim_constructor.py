"""Layer-wise learning-rate decay with TSTL's layer ids.

TSTL (``train_selector.py`` / ``train_experts.py`` of saddy-paddy/TSTL, after
CAST and VideoMAE) builds one parameter group per (layer id, decay or not):

- layer ids: the stems (``clip_conv1``, ``clip_class_embedding``,
  ``clip_positional_embedding``, ``clip_ln_pre``, ``patch_embed``, the
  top-level ``pos_embed`` / ``cls_token`` / ``mask_token``) are 0,
  ``blocks.i`` is ``i + 1``, everything else (``clip_ln_post``,
  ``vmae_fc_norm``, the heads) is ``num_layers + 1``;
- lr scale ``rate ** (num_layers + 1 - id)``;
- no weight decay for 1-D parameters, biases and the positional tables
  (``no_weight_decay()`` of the official model, matched as a substring of
  the parameter name, which catches the nested
  ``blocks.i.t2s_cross.clip_time_pos`` etc.);
- frozen parameters are left out of the optimizer.

MMAction2's ``LearningRateDecayOptimizerConstructor`` gets several of these
wrong for this backbone (see ``docs/method_kinds/video_recognizer.md``).
Here the rule applies to ``backbone.<official name>``; parameters outside
``backbone.`` (``cls_head.*``) get the last id.
"""
from typing import Dict, List, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn

from vtg_plugins.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, \
    OPTIMIZERS

BACKBONE_PREFIX = 'backbone.'
# first component of a backbone parameter name that puts it in layer 0
STEM_NAMES = frozenset({
    'clip_conv1', 'clip_class_embedding', 'clip_positional_embedding',
    'clip_ln_pre', 'patch_embed', 'pos_embed', 'cls_token', 'mask_token'
})
# the official no_weight_decay() set, plus CLIP's positional table (frozen
# in TSTL, so only a departure once someone trains it)
NO_DECAY_NAMES = ('clip_time_pos', 'clip_space_pos', 'vmae_space_pos',
                  'vmae_time_pos', 'pos_embed', 'clip_positional_embedding')
PARAMWISE_KEYS = frozenset(
    {'layer_decay_rate', 'num_layers', 'no_decay_names'})


def tstl_layer_id(name: str, num_layers: int) -> int:
    """Layer id of a model parameter (``backbone.``-prefixed names follow
    the official rule, all others are heads: ``num_layers + 1``)."""
    if not name.startswith(BACKBONE_PREFIX):
        return num_layers + 1
    parts = name[len(BACKBONE_PREFIX):].split('.')
    if parts[0] in STEM_NAMES:
        return 0
    if parts[0] == 'blocks':
        if len(parts) < 3 or not parts[1].isdigit():
            raise ValueError(f'cannot read a block index from {name!r}')
        block = int(parts[1])
        if block >= num_layers:
            raise ValueError(f'{name!r} is in block {block} but num_layers '
                             f'is {num_layers}')
        return block + 1
    return num_layers + 1


def is_no_decay(name: str, param: nn.Parameter,
                no_decay_names: Sequence[str]) -> bool:
    """1-D parameters, biases and names containing a positional-table
    name get no weight decay."""
    return (param.ndim <= 1 or name.endswith('.bias')
            or any(key in name for key in no_decay_names))


def layer_decay_groups(
        model: nn.Module,
        num_layers: int,
        rate: float,
        base_lr: float,
        weight_decay: float,
        no_decay_names: Sequence[str] = NO_DECAY_NAMES) -> List[dict]:
    """Parameter groups in the official order (first appearance in
    ``named_parameters()``), one per (layer id, decay); each has ``params``,
    ``lr = base_lr * lr_scale``, ``weight_decay`` and ``lr_scale``."""
    groups: Dict[Tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = tstl_layer_id(name, num_layers)
        no_decay = is_no_decay(name, param, no_decay_names)
        if (layer, no_decay) not in groups:
            scale = rate**(num_layers + 1 - layer)
            groups[(layer, no_decay)] = dict(
                params=[],
                lr=base_lr * scale,
                weight_decay=0.0 if no_decay else weight_decay,
                lr_scale=scale)
        groups[(layer, no_decay)]['params'].append(param)
    return list(groups.values())


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TSTLLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-decay parameter groups of TSTL (see the module docstring).

    ``paramwise_cfg`` keys: ``layer_decay_rate`` (default 0.75),
    ``num_layers`` (default ``len(model.backbone.blocks)``),
    ``no_decay_names`` (default :data:`NO_DECAY_NAMES`). Any other key is
    an error, since it would be silently ignored. The optimizer's
    ``weight_decay`` goes to the decayed groups; the wrapper type
    (``OptimWrapper``, ``AmpOptimWrapper``, ``DeepSpeedOptimWrapper``, ...)
    comes from the ``optim_wrapper`` config.
    """

    #: the ``paramwise_cfg`` keys it reads (config checks use it too)
    paramwise_keys = PARAMWISE_KEYS

    def __call__(self, model: nn.Module) -> OptimWrapper:
        unknown = set(self.paramwise_cfg) - PARAMWISE_KEYS
        if unknown:
            raise ValueError(
                f'TSTLLayerDecayOptimWrapperConstructor: unknown paramwise_cfg'
                f' keys {sorted(unknown)}; known: {sorted(PARAMWISE_KEYS)}')
        if hasattr(model, 'module'):
            model = model.module
        rate = self.paramwise_cfg.get('layer_decay_rate', 0.75)
        if not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}')
        num_layers = self.paramwise_cfg.get('num_layers')
        if num_layers is None:
            blocks = getattr(getattr(model, 'backbone', None), 'blocks', None)
            if blocks is None:
                raise ValueError(
                    f'{type(model).__name__} has no backbone.blocks: give '
                    'paramwise_cfg.num_layers')
            num_layers = len(blocks)
        optimizer_cfg = self.optimizer_cfg.copy()
        if 'lr' not in optimizer_cfg:
            raise ValueError('optimizer config needs an lr')
        weight_decay = optimizer_cfg.pop('weight_decay', 0.0)
        groups = layer_decay_groups(
            model, num_layers, rate, optimizer_cfg['lr'], weight_decay,
            tuple(self.paramwise_cfg.get('no_decay_names', NO_DECAY_NAMES)))
        if not groups:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter')
        print_log(
            f'layer decay {rate} over {num_layers} layers: {len(groups)} '
            f'groups, {sum(len(g["params"]) for g in groups)} trainable '
            'tensors',
            logger='current')
        optimizer_cfg['params'] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
