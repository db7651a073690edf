"""Optimizer wrappers that clip FSDP gradients by their global norm.

MMEngine's ``OptimWrapper`` clips with ``torch.nn.utils.clip_grad_norm_``
over the parameters of its optimizer. Under FSDP those are each rank's
shards of the flattened parameters, so every rank would scale its shard by
the norm of that shard alone: a different factor per shard and none of them
the norm DDP would clip by. These wrappers remember the FSDP module they run
(``optim_context`` receives it in ``train_step``) and clip through
``FullyShardedDataParallel.clip_grad_norm_``, which reduces the norm over all
ranks first. Value clipping and non-FSDP models keep MMEngine's behaviour.
"""
from typing import Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS

from vtg_plugins.registry import OPTIM_WRAPPERS


class _GlobalNormClipMixin:
    """Clip by the norm over all shards when the model is FSDP."""

    _sharded_model: Optional[torch.nn.Module] = None

    def optim_context(self, model: torch.nn.Module):
        self._sharded_model = model
        return super().optim_context(model)

    def _clip_grad(self) -> None:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        model = self._sharded_model
        if not isinstance(model, FSDP) or \
                self.clip_func is not torch.nn.utils.clip_grad_norm_:
            super()._clip_grad()
            return
        norm = model.clip_grad_norm_(**self.clip_grad_kwargs)
        self.message_hub.update_scalar(f'train/{self.grad_name}', float(norm))


@OPTIM_WRAPPERS.register_module()
class FSDPOptimWrapper(_GlobalNormClipMixin, OptimWrapper):
    """``OptimWrapper`` whose norm clipping is FSDP's global one."""


@OPTIM_WRAPPERS.register_module()
class FSDPAmpOptimWrapper(_GlobalNormClipMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` (with FSDP's sharded grad scaler) whose norm
    clipping is FSDP's global one; the scaler unscales before clipping."""

    def __init__(self, **kwargs):
        kwargs.setdefault('use_fsdp', True)
        super().__init__(**kwargs)


@OPTIM_WRAPPERS.register_module()
class FSDPBF16OptimWrapper(_GlobalNormClipMixin,
                           MMENGINE_OPTIM_WRAPPERS.get('BF16OptimWrapper')):
    """bf16 autocast (``--amp`` without CUDA, see
    :mod:`vtg_plugins.compat.mmengine`) whose norm clipping is FSDP's
    global one."""
