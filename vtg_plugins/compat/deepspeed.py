"""Fixes for DeepSpeed 0.19 as mmengine 0.10.7 and our tools use it.

Nothing here imports DeepSpeed: the fixes act when something else does
(mmengine imports it with ``mmengine.runner``).
"""
import sys
from types import ModuleType

from ._hooks import after_import, placeholder_if_missing

ONEBIT = 'deepspeed.runtime.fp16.onebit'
ONEBIT_OPTIMIZERS = ('OnebitAdam', 'OnebitLamb', 'ZeroOneAdam')


def _fill_onebit(module: ModuleType) -> None:
    import torch

    def missing(opt_name):

        class Missing(torch.optim.Optimizer):

            def __init__(self, *args, **kwargs):
                raise NotImplementedError(
                    f'{opt_name} is not available in this DeepSpeed '
                    f'installation (no {ONEBIT}).')

        Missing.__name__ = Missing.__qualname__ = opt_name
        return Missing

    module.__doc__ = (f'Placeholder for {ONEBIT}, which DeepSpeed 0.19 no '
                      f'longer ships (vtg_plugins.compat.deepspeed).')
    for opt_name in ONEBIT_OPTIMIZERS:
        setattr(module, opt_name, missing(opt_name))


def add_onebit_placeholder() -> None:
    """DeepSpeed 0.19 no longer ships ``deepspeed.runtime.fp16.onebit`` (the
    1-bit Adam/LAMB optimizers), but mmengine 0.10.7's
    ``register_deepspeed_optimizers`` imports ``OnebitAdam``, ``OnebitLamb``
    and ``ZeroOneAdam`` from it, so every ``FlexibleRunner`` with
    ``DeepSpeedStrategy`` fails. Supply a placeholder module, whose three
    optimizers raise when built, for as long as no real one is found.

    (The other half of running DeepSpeed bf16 is configuration:
    ``DeepSpeedStrategy(inputs_to_half=['inputs'])``.)
    """
    placeholder_if_missing(ONEBIT, _fill_onebit)


def _logs_to_stderr(ds_logging: ModuleType) -> None:
    import logging
    for handler in ds_logging.logger.handlers:
        if isinstance(handler, logging.StreamHandler) and \
                handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def move_logs_to_stderr() -> None:
    """DeepSpeed's logger writes to stdout, and mmengine imports DeepSpeed
    whenever it is installed (printing "Setting accelerator to CPU" on every
    CPU run), which breaks tools whose stdout is JSON (``tools/test.py``
    metrics, ``check_parity.py``). Point its handler at stderr as soon as
    ``deepspeed.utils.logging`` has created it."""
    after_import('deepspeed.utils.logging', _logs_to_stderr)


def _broadcast_scalars_as_vectors(engine: ModuleType) -> None:
    cls = engine.DeepSpeedEngine
    if getattr(cls._broadcast_model, '_vtg_fixed', False):
        return
    original = cls._broadcast_model

    def _broadcast_model(self):
        scalars = [p for p in self.module.parameters() if p.dim() == 0]
        for param in scalars:  # a 1-element view of the same storage
            param.data = param.data.view(1)
        try:
            original(self)
        finally:
            for param in scalars:
                param.data = param.data.view(())

    _broadcast_model._vtg_fixed = True
    cls._broadcast_model = _broadcast_model


def broadcast_scalar_parameters() -> None:
    """DeepSpeed 0.19's ``DeepSpeedEngine._broadcast_model`` sends each
    parameter as ``p.data.view(torch.uint8)``, which fails for 0-dim
    parameters (a learnable scale: "self.dim() cannot be 0 to view Float as
    Byte"), so every model with one fails to start on more than one rank.
    Broadcast them through a 1-element view of the same storage."""
    after_import('deepspeed.runtime.engine', _broadcast_scalars_as_vectors)


def apply() -> None:
    """Install the DeepSpeed fixes (each waits for its module)."""
    move_logs_to_stderr()
    add_onebit_placeholder()
    broadcast_scalar_parameters()
