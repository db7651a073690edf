"""Which TempCLR parameters train.

``'layernorm'`` is the official ``layernorm_only`` rule of
``AlignRetriTask.build_model``: a parameter trains only when the module
that owns it is named ``LayerNorm`` (``name.split('.')[-2] ==
'LayerNorm'``). That covers the embedding and per-layer LayerNorms of both
towers *and* the ``videomlp.LayerNorm`` of ``VideoTokenMLP``. ``'all'``
trains every parameter.

In both modes the ``frozen`` prefixes stay frozen: TempCLR passes its BERT
poolers, which no output reads (they get no gradient in the official code
either, so its optimizer never moves them), so that distributed training
needs no ``find_unused_parameters``.
"""
from typing import Sequence

from torch import nn

TRAINABLE_MODES = ('layernorm', 'all')


def is_layernorm_parameter(name: str) -> bool:
    """Whether the module owning parameter ``name`` is named ``LayerNorm``
    (the official rule)."""
    parts = name.split('.')
    return len(parts) >= 2 and parts[-2] == 'LayerNorm'


def set_trainable(model: nn.Module, mode: str,
                  frozen: Sequence[str] = ()) -> None:
    """Set ``requires_grad`` of every parameter of ``model``.

    Args:
        model: the model.
        mode: ``'layernorm'`` or ``'all'``.
        frozen: name prefixes that never train.
    """
    if mode not in TRAINABLE_MODES:
        raise ValueError(f'trainable must be one of {TRAINABLE_MODES}, got '
                         f'{mode!r}')
    for name, param in model.named_parameters():
        trains = mode == 'all' or is_layernorm_parameter(name)
        param.requires_grad = trains and not name.startswith(tuple(frozen))
