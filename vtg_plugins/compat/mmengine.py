"""Fixes for mmengine 0.10.7 against torch >= 2.6 and for its file writes.

Each fix runs when the mmengine module it patches is first imported, so
installing them imports neither torch nor mmengine.
"""
import os
from contextlib import contextmanager
from types import ModuleType

from ._hooks import after_import


def _load_trusted_local(filename: str, map_location=None):
    """Local checkpoint loader with ``weights_only=False``."""
    import torch
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def _register_trusted_local(checkpoint: ModuleType) -> None:
    loaders = checkpoint.CheckpointLoader
    if loaders._schemes.get('') is not _load_trusted_local:
        loaders.register_scheme(
            prefixes='', loader=_load_trusted_local, force=True)


def register_trusted_local_loader() -> None:
    """torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which
    rejects MMEngine checkpoints (their ``message_hub`` holds numpy objects).

    mmengine 0.10.7's ``load_from_local`` calls ``torch.load`` without the
    argument, so ``--resume`` and ``load_from`` fail. Register a local-file
    loader that passes ``weights_only=False``. Only for files the user names
    (their own checkpoints or model-zoo files they chose to trust).
    """
    after_import('mmengine.runner.checkpoint', _register_trusted_local)


def _register_bf16_wrapper(optim: ModuleType) -> None:
    import torch
    from mmengine.registry import OPTIM_WRAPPERS
    if 'BF16OptimWrapper' in OPTIM_WRAPPERS.module_dict:
        return

    class BF16OptimWrapper(optim.OptimWrapper):
        """Optimizer wrapper running forward passes under bf16 autocast.

        Args:
            device_type (str, optional): autocast device; defaults to the
                device of the first parameter of the model in
                ``optim_context``.
            **kwargs: forwarded to :class:`mmengine.optim.OptimWrapper`.
        """

        def __init__(self, device_type=None, **kwargs):
            super().__init__(**kwargs)
            self.device_type = device_type

        @contextmanager
        def optim_context(self, model):
            device = self.device_type
            if device is None:
                param = next(model.parameters(), None)
                device = param.device.type if param is not None else 'cpu'
            with super().optim_context(model), torch.autocast(
                    device_type=device, dtype=torch.bfloat16):
                yield

    OPTIM_WRAPPERS.register_module(module=BF16OptimWrapper)


def register_bf16_optim_wrapper() -> None:
    """``AmpOptimWrapper`` (mmengine 0.10.7) raises unless CUDA/NPU/MLU/MUSA is
    available, so ``--amp`` fails on CPU.

    Register ``BF16OptimWrapper``: a plain ``OptimWrapper`` whose
    ``optim_context`` enters ``torch.autocast(device, dtype=torch.bfloat16)``.
    bf16 has fp32's range, so no loss scaler is needed.
    """
    after_import('mmengine.optim', _register_bf16_wrapper)


def _atomic_local_backend(local_backend: ModuleType) -> None:
    from vtg_plugins.utils.io import atomic_write
    backend = local_backend.LocalBackend
    if getattr(backend.put, '_vtg_atomic', False):
        return

    def put(self, obj: bytes, filepath) -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(filepath, 'w', encoding=encoding) as f:
            f.write(obj)

    put._vtg_atomic = True
    put.__doc__ = backend.put.__doc__
    put_text.__doc__ = backend.put_text.__doc__
    backend.put = put
    backend.put_text = put_text


def make_local_writes_atomic() -> None:
    """mmengine's ``LocalBackend.put``/``put_text`` (used by
    ``save_checkpoint``, ``last_checkpoint`` and ``mmengine.dump``) open the
    destination with 'w' and write into it, so a job killed mid-save leaves a
    truncated checkpoint that ``--resume`` then fails on. Write to a
    temporary file and rename it over the destination instead."""
    after_import('mmengine.fileio.backends.local_backend',
                 _atomic_local_backend)


def _fix_fsdp_load_optim_state_dict(fsdp: ModuleType) -> None:
    strategy = fsdp.FSDPStrategy
    if getattr(strategy.load_optim_state_dict, '_vtg_fixed', False):
        return

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optim_state_dict = fsdp.FSDP.optim_state_dict_to_load(
            model=self.model,
            optim=self.optim_wrapper.optimizer,
            optim_state_dict=state_dict)
        self.optim_wrapper.load_state_dict(optim_state_dict)

    load_optim_state_dict._vtg_fixed = True
    load_optim_state_dict.__doc__ = strategy.load_optim_state_dict.__doc__
    strategy.load_optim_state_dict = load_optim_state_dict


def fix_fsdp_optim_state_dict_to_load() -> None:
    """mmengine 0.10.7's ``FSDPStrategy.load_optim_state_dict`` calls
    ``FSDP.optim_state_dict_to_load(state_dict, model, optim)`` (torch 2.0's
    argument order); torch >= 2.1 takes ``(model, optim, optim_state_dict)``,
    so resuming an FSDP run fails. Call it with keywords instead."""
    after_import('mmengine._strategy.fsdp', _fix_fsdp_load_optim_state_dict)


def apply() -> None:
    """Install the mmengine fixes (each waits for its module)."""
    register_trusted_local_loader()
    register_bf16_optim_wrapper()
    make_local_writes_atomic()
    fix_fsdp_optim_state_dict_to_load()
