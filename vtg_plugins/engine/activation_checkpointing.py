"""Activation checkpointing of chosen module types, for any engine.

``apply_activation_checkpointing(model, ['BertLayer'])`` makes every
``BertLayer`` of ``model`` recompute its forward pass during backward
instead of keeping its activations (``torch.utils.checkpoint``, the
non-reentrant variant, which works under DDP, FSDP and DeepSpeed ZeRO-3).
Unlike torch's ``checkpoint_wrapper`` it replaces the instances' ``forward``
and leaves the module tree alone, so parameter names, state-dict keys and
the parameter-wise optimizer settings that match on them do not change.
Only training forwards with gradients enabled are checkpointed.
"""
import functools
import types
from typing import Iterable

import torch
from torch.utils.checkpoint import checkpoint


def _checkpointed_forward(self, *args, **kwargs):
    """The class's forward, recomputed in backward when gradients flow."""
    forward = functools.partial(type(self).forward, self)
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def apply_activation_checkpointing(model: torch.nn.Module,
                                   module_types: Iterable[str]) -> int:
    """Checkpoint every submodule of ``model`` whose class name is one of
    ``module_types``; returns how many were wrapped.

    Raises:
        ValueError: when a name matches no submodule (a typo would
            otherwise train silently without checkpointing), naming the
            class names the model does have.
    """
    wanted = set(module_types)
    found = {name: 0 for name in wanted}
    for module in model.modules():
        name = type(module).__name__
        if name not in wanted:
            continue
        found[name] += 1
        # a bound method (not a closure): deep copies (EMA, ...) rebind it
        module.forward = types.MethodType(_checkpointed_forward, module)
    missing = sorted(name for name, count in found.items() if not count)
    if missing:
        present = sorted({type(m).__name__ for m in model.modules()})
        raise ValueError(
            f'activation_checkpointing: no module of type {missing} in '
            f'{type(model).__name__}; its module types are {present}')
    return sum(found.values())
