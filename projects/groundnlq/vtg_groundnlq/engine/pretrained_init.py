"""Fine-tuning from a pre-trained checkpoint with the heads re-initialized.

houzhijian/GroundNLQ ``train_ft.py`` loads the narration pre-trained
``state_dict`` without every key containing ``"head"`` (``strict=False``),
so the classification / regression heads start from their random init. Here
that is a weight initializer for the model's ``init_cfg``, applied by
``Runner.train`` only (``tools/test.py`` and resuming load whole
checkpoints as usual)::

    model = dict(init_cfg=dict(type='PretrainedWithoutHeads',
                               checkpoint='work_dirs/pretrain/epoch_10.pth'))
"""
from typing import Dict, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import BaseInit, update_init_info
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict

from vtg_plugins.registry import WEIGHT_INITIALIZERS

#: model keys not taken from the pre-trained checkpoint: both heads (the
#: official filter ``"head" in key`` matches exactly these) and the
#: positive-count normalizer, a Python float the official code never saves
DEFAULT_DROP = ('cls_head.', 'reg_head.', 'loss_normalizer')


def _pick_weights(ckpt: dict, weights: str,
                  path: str) -> Dict[str, torch.Tensor]:
    """The raw or the EMA weights of an MMEngine / converted checkpoint.

    With MMEngine's ``EMAHook`` a checkpoint's ``state_dict`` holds the EMA
    weights and ``ema_state_dict`` the raw ones (``module.``-prefixed);
    without it ``state_dict`` holds the raw weights and there is no EMA.
    """
    state = ckpt.get('state_dict', ckpt)
    ema = ckpt.get('ema_state_dict')
    if weights == 'ema':
        if ema is None:
            raise ValueError(f'{path}: no EMA weights (ema_state_dict) to '
                             f"load with weights='ema'")
        return dict(state)
    if ema is None:
        return dict(state)
    return {k[len('module.'):]: v for k, v in ema.items()
            if k.startswith('module.')}


@WEIGHT_INITIALIZERS.register_module()
class PretrainedWithoutHeads(BaseInit):
    """Load a checkpoint except keys starting with ``drop_prefixes``.

    Every other model key must be in the checkpoint with the model's shape
    and every checkpoint key in the model (else a ``ValueError`` names
    them): the official
    ``strict=False`` would silently leave a mismatched backbone random.

    Args:
        checkpoint (str): path or URL of the pre-trained checkpoint.
        drop_prefixes (Sequence[str]): model keys to keep at their init.
        weights (str): ``'model'`` (the raw weights, as official, which
            fine-tunes ``checkpoint['state_dict']`` of its own trainer, not
            the EMA) or ``'ema'``.
        map_location (str): passed to the loader.
    """

    def __init__(self,
                 checkpoint: str,
                 drop_prefixes: Sequence[str] = DEFAULT_DROP,
                 weights: str = 'model',
                 map_location: str = 'cpu') -> None:
        super().__init__()
        if weights not in ('model', 'ema'):
            raise ValueError(f"weights must be 'model' or 'ema', got "
                             f'{weights!r}')
        self.checkpoint = checkpoint
        self.drop_prefixes = tuple(drop_prefixes)
        self.weights = weights
        self.map_location = map_location

    def __call__(self, module: torch.nn.Module) -> None:
        ckpt = _load_checkpoint(self.checkpoint, self.map_location)
        state = _pick_weights(ckpt, self.weights, self.checkpoint)
        state = {k[7:] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        kept = {k: v for k, v in state.items()
                if not k.startswith(self.drop_prefixes)}
        wanted = {k for k in module.state_dict()
                  if not k.startswith(self.drop_prefixes)}
        missing, unexpected = sorted(wanted - set(kept)), sorted(
            set(kept) - wanted)
        own = module.state_dict()
        shapes = sorted(f'{k} {tuple(v.shape)} vs {tuple(own[k].shape)}'
                        for k, v in kept.items()
                        if k in own and v.shape != own[k].shape)
        if missing or unexpected or shapes:
            raise ValueError(
                f'{self.checkpoint}: does not match the model outside '
                f'{list(self.drop_prefixes)}: missing {missing[:5]} '
                f'({len(missing)}), unexpected {unexpected[:5]} '
                f'({len(unexpected)}), other shapes {shapes[:5]} '
                f'({len(shapes)})')
        load_state_dict(module, kept, strict=False, logger='current')
        print_log(
            f'loaded {len(kept)} tensors ({self.weights} weights) from '
            f'{self.checkpoint}; kept at init: {list(self.drop_prefixes)}',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return (f'{type(self).__name__}: load from {self.checkpoint} '
                f'without {list(self.drop_prefixes)}')
