"""Workarounds for upstream problems, in one place (DESIGN.md section 3).

Each function fixes one problem of a pinned upstream package and names it:
the seven listed in DESIGN.md, plus the transformers re-export that
mmaction2's multimodal models need, atomic checkpoint writes, and
DeepSpeed's logging to stdout.
:func:`apply_all` runs them all; ``vtg_plugins/__init__.py`` calls it on
import, before anything imports ``mmaction.models``. Every fix is idempotent
and does nothing when the upstream problem is absent.
"""
import importlib.abc
import importlib.util
import os
import sys
import types
from contextlib import contextmanager

import numpy as np
import torch


def add_missing_drn_module() -> bool:
    """mmaction2 1.2.0's wheel lacks ``mmaction/models/localizers/drn``.

    ``mmaction.models.localizers`` imports ``.drn.drn.DRN`` unconditionally,
    so ``import mmaction.models`` fails with ``ModuleNotFoundError``. Register
    placeholder modules whose ``DRN`` raises when used, unless the real package
    is installed. Returns True when the placeholder was installed.
    """
    pkg = 'mmaction.models.localizers.drn'
    if pkg in sys.modules:
        return False
    # Look on disk: find_spec(pkg) would import mmaction.models (seconds).
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    localizers = os.path.join(spec.submodule_search_locations[0], 'models',
                              'localizers')
    if os.path.exists(os.path.join(localizers, 'drn', 'drn.py')):
        return False

    class DRN(torch.nn.Module):
        """Placeholder: the DRN localizer is missing from the mmaction2
        wheel."""

        def __init__(self, *args, **kwargs):
            raise NotImplementedError(
                'mmaction2 1.2.0 is installed without '
                'mmaction/models/localizers/drn; DRN is unavailable. '
                'Install mmaction2 from source to use it.')

    package = types.ModuleType(pkg)
    package.__path__ = []
    module = types.ModuleType(pkg + '.drn')
    module.DRN = DRN
    package.drn = module
    package.DRN = DRN
    sys.modules[pkg] = package
    sys.modules[pkg + '.drn'] = module
    return True


def alias_removed_numpy_functions() -> list:
    """numpy 2.4 removed ``np.in1d`` and ``np.trapz``; MMAction2's metrics
    (``mmaction.evaluation.functional``) still call them.

    Aliases them to ``np.isin`` (flattened, as ``in1d`` returned) and
    ``np.trapezoid``. Returns the names that were added.
    """
    added = []
    if not hasattr(np, 'in1d'):

        def in1d(ar1, ar2, assume_unique=False, invert=False):
            return np.isin(
                np.asarray(ar1).ravel(),
                ar2,
                assume_unique=assume_unique,
                invert=invert)

        np.in1d = in1d
        added.append('in1d')
    if not hasattr(np, 'trapz'):
        np.trapz = np.trapezoid
        added.append('trapz')
    return added


def _load_trusted_local(filename: str, map_location=None):
    """Local checkpoint loader with ``weights_only=False``."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_trusted_local_loader() -> None:
    """torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which
    rejects MMEngine checkpoints (their ``message_hub`` holds numpy objects).

    mmengine 0.10.7's ``load_from_local`` calls ``torch.load`` without the
    argument, so ``--resume`` and ``load_from`` fail. Register a local-file
    loader that passes ``weights_only=False``. Only for files the user names
    (their own checkpoints or model-zoo files they chose to trust).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    loaders = CheckpointLoader._schemes
    if loaders.get('') is _load_trusted_local:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_trusted_local, force=True)


def register_bf16_optim_wrapper() -> None:
    """``AmpOptimWrapper`` (mmengine 0.10.7) raises unless CUDA/NPU/MLU/MUSA is
    available, so ``--amp`` fails on CPU.

    Register ``BF16OptimWrapper``: a plain ``OptimWrapper`` whose
    ``optim_context`` enters ``torch.autocast(device, dtype=torch.bfloat16)``.
    bf16 has fp32's range, so no loss scaler is needed.
    """
    from mmengine.optim import OptimWrapper
    from mmengine.registry import OPTIM_WRAPPERS

    if 'BF16OptimWrapper' in OPTIM_WRAPPERS.module_dict:
        return

    class BF16OptimWrapper(OptimWrapper):
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


def add_deepspeed_onebit_placeholder() -> bool:
    """DeepSpeed 0.19 no longer ships ``deepspeed.runtime.fp16.onebit`` (the
    1-bit Adam/LAMB optimizers), but mmengine 0.10.7's
    ``register_deepspeed_optimizers`` imports ``OnebitAdam``, ``OnebitLamb``
    and ``ZeroOneAdam`` from it, so ``import mmengine._strategy.deepspeed``
    (and every ``FlexibleRunner`` with ``DeepSpeedStrategy``) fails. Register
    a placeholder module whose three optimizers raise when built.

    (The other half of running DeepSpeed bf16 is configuration:
    ``DeepSpeedStrategy(inputs_to_half=['inputs'])``.)
    Returns True when the placeholder was installed.
    """
    name = 'deepspeed.runtime.fp16.onebit'
    if name in sys.modules:
        return False
    # Look on disk rather than with find_spec(name), which would import
    # deepspeed (seconds) just to answer.
    try:
        spec = importlib.util.find_spec('deepspeed')
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    fp16_dir = os.path.join(spec.submodule_search_locations[0], 'runtime',
                            'fp16')
    if os.path.exists(os.path.join(fp16_dir, 'onebit')):
        return False
    placeholder = types.ModuleType(name)

    def _missing(opt_name):

        class Missing(torch.optim.Optimizer):

            def __init__(self, *args, **kwargs):
                raise NotImplementedError(
                    f'{opt_name} is not available in this DeepSpeed '
                    f'installation (no deepspeed.runtime.fp16.onebit).')

        Missing.__name__ = Missing.__qualname__ = opt_name
        return Missing

    for opt_name in ('OnebitAdam', 'OnebitLamb', 'ZeroOneAdam'):
        setattr(placeholder, opt_name, _missing(opt_name))
    sys.modules[name] = placeholder
    return True


def fix_fsdp_optim_state_dict_to_load() -> None:
    """mmengine 0.10.7's ``FSDPStrategy.load_optim_state_dict`` calls
    ``FSDP.optim_state_dict_to_load(state_dict, model, optim)`` (torch 2.0's
    argument order); torch >= 2.1 takes ``(model, optim, optim_state_dict)``,
    so resuming an FSDP run fails. Call it with keywords instead."""
    from mmengine._strategy import fsdp as fsdp_strategy
    strategy = fsdp_strategy.FSDPStrategy
    if getattr(strategy.load_optim_state_dict, '_vtg_fixed', False):
        return

    def load_optim_state_dict(self, state_dict: dict) -> None:
        optim_state_dict = fsdp_strategy.FSDP.optim_state_dict_to_load(
            model=self.model,
            optim=self.optim_wrapper.optimizer,
            optim_state_dict=state_dict)
        self.optim_wrapper.load_state_dict(optim_state_dict)

    load_optim_state_dict._vtg_fixed = True
    load_optim_state_dict.__doc__ = strategy.load_optim_state_dict.__doc__
    strategy.load_optim_state_dict = load_optim_state_dict


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Runs ``callback(module)`` right after ``name`` is first imported,
    so a fix to a heavy module costs nothing until someone imports it."""

    def __init__(self, name: str, callback):
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        callback = self.callback

        def exec_and_fix(module):
            exec_module(module)
            callback(module)

        spec.loader.exec_module = exec_and_fix
        sys.meta_path.remove(self)
        return spec


def _reexport_transformers_pytorch_utils(modeling_utils) -> None:
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
    Re-export them into ``modeling_utils`` when it is imported (a post-import
    hook, so importing vtg_plugins does not pay for importing transformers).
    """
    name = 'transformers.modeling_utils'
    if name in sys.modules:
        _reexport_transformers_pytorch_utils(sys.modules[name])
        return
    if any(isinstance(f, _PostImportHook) and f.name == name
           for f in sys.meta_path):
        return
    try:
        if importlib.util.find_spec('transformers') is None:
            return
    except (ImportError, ValueError):
        return
    sys.meta_path.insert(
        0, _PostImportHook(name, _reexport_transformers_pytorch_utils))


def _deepspeed_logs_to_stderr(ds_logging) -> None:
    import logging
    for handler in ds_logging.logger.handlers:
        if isinstance(handler, logging.StreamHandler) and \
                handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def move_deepspeed_logs_to_stderr() -> None:
    """DeepSpeed's logger writes to stdout, and mmengine imports DeepSpeed
    whenever it is installed (printing "Setting accelerator to CPU" on every
    CPU run), which breaks tools whose stdout is JSON (``tools/evaluate.py``,
    ``check_parity.py``). Point its handler at stderr when it is created."""
    name = 'deepspeed.utils.logging'
    if name in sys.modules:
        _deepspeed_logs_to_stderr(sys.modules[name])
        return
    if any(isinstance(f, _PostImportHook) and f.name == name
           for f in sys.meta_path):
        return
    try:
        if importlib.util.find_spec('deepspeed') is None:
            return
    except (ImportError, ValueError):
        return
    sys.meta_path.insert(0, _PostImportHook(name, _deepspeed_logs_to_stderr))


def make_local_writes_atomic() -> None:
    """mmengine's ``LocalBackend.put``/``put_text`` (used by
    ``save_checkpoint``, ``last_checkpoint`` and ``mmengine.dump``) open the
    destination with 'w' and write into it, so a job killed mid-save leaves a
    truncated checkpoint that ``--resume`` then fails on. Write to a
    temporary file and rename it over the destination instead."""
    from mmengine.fileio.backends.local_backend import LocalBackend

    from vtg_plugins.utils.io import atomic_write
    if getattr(LocalBackend.put, '_vtg_atomic', False):
        return

    def put(self, obj: bytes, filepath) -> None:
        with atomic_write(filepath, 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(filepath, 'w', encoding=encoding) as f:
            f.write(obj)

    put._vtg_atomic = True
    put.__doc__ = LocalBackend.put.__doc__
    put_text.__doc__ = LocalBackend.put_text.__doc__
    LocalBackend.put = put
    LocalBackend.put_text = put_text


def init_cpu_distributed(launcher: str, port: int = 29500) -> None:
    """Initialise a gloo process group for CPU-only distributed runs.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` for the pytorch
    and slurm launchers and defaults to NCCL, so ``tools/dist_train.sh`` fails
    on machines without CUDA. This reads the launcher's environment (torchrun:
    RANK/WORLD_SIZE/MASTER_*; slurm: SLURM_*; mpi: OMPI_*) and initialises
    gloo. Models must then be wrapped with ``device_ids=None``; see
    :func:`cpu_model_wrapper_cfg`.
    """
    import torch.distributed as dist
    if dist.is_initialized():
        return
    env = os.environ
    if launcher == 'slurm':
        env['RANK'] = env['SLURM_PROCID']
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in env:
            import subprocess
            nodes = env['SLURM_NODELIST']
            env['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {nodes} | head -n1')
        env.setdefault('MASTER_PORT', str(port))
    elif launcher == 'mpi':
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['LOCAL_RANK'] = env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
        env.setdefault('MASTER_ADDR', '127.0.0.1')
        env.setdefault('MASTER_PORT', str(port))
    elif launcher != 'pytorch':
        raise ValueError(f'unknown launcher {launcher!r}')
    dist.init_process_group(backend='gloo')


def cpu_model_wrapper_cfg(cfg: dict = None) -> dict:
    """DDP wrapper config for CPU: ``device_ids=None`` (the Runner's default
    ``[LOCAL_RANK]`` makes DDP look for a CUDA device)."""
    cfg = dict(cfg or {})
    cfg.setdefault('type', 'MMDistributedDataParallel')
    cfg['device_ids'] = None
    return cfg


def apply_all() -> None:
    """Apply every fix above that is needed in this environment."""
    move_deepspeed_logs_to_stderr()  # first: the fixes below import it
    add_missing_drn_module()
    reexport_transformers_helpers()
    alias_removed_numpy_functions()
    register_trusted_local_loader()
    register_bf16_optim_wrapper()
    add_deepspeed_onebit_placeholder()
    fix_fsdp_optim_state_dict_to_load()
    make_local_writes_atomic()
