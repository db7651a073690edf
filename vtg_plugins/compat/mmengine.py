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


def _numbers_as_tensors(state_dict: dict):
    """``state_dict`` with the per-parameter states that are Python numbers
    (an int ``step``, as optimizers written before torch 1.12 keep it) as
    0-dim tensors, which FSDP's resharding handles, and ``{key: type}`` of
    those turned."""
    import torch
    numbers, state = {}, {}
    for param, param_state in state_dict.get('state', {}).items():
        state[param] = {}
        for key, value in param_state.items():
            if isinstance(value, (int, float)) and \
                    not isinstance(value, bool):
                numbers[key] = type(value)
                value = torch.tensor(value)
            state[param][key] = value
    return dict(state_dict, state=state), numbers


def _tensors_as_numbers(optimizer, numbers: dict) -> None:
    """Turn the states :func:`_numbers_as_tensors` made tensors back into
    the optimizer's Python numbers."""
    for param_state in optimizer.state.values():
        for key, kind in numbers.items():
            value = param_state.get(key)
            if hasattr(value, 'dim') and value.dim() == 0:
                param_state[key] = kind(value.item())


def _fix_fsdp_load_optim_state_dict(fsdp: ModuleType) -> None:
    strategy = fsdp.FSDPStrategy
    if getattr(strategy.load_optim_state_dict, '_vtg_fixed', False):
        return

    def load_optim_state_dict(self, state_dict: dict) -> None:
        state_dict, numbers = _numbers_as_tensors(state_dict)
        optim_state_dict = fsdp.FSDP.optim_state_dict_to_load(
            model=self.model,
            optim=self.optim_wrapper.optimizer,
            optim_state_dict=state_dict)
        self.optim_wrapper.load_state_dict(optim_state_dict)
        _tensors_as_numbers(self.optim_wrapper.optimizer, numbers)

    load_optim_state_dict._vtg_fixed = True
    load_optim_state_dict.__doc__ = strategy.load_optim_state_dict.__doc__
    strategy.load_optim_state_dict = load_optim_state_dict


def fix_fsdp_optim_state_dict_to_load() -> None:
    """mmengine 0.10.7's ``FSDPStrategy.load_optim_state_dict`` calls
    ``FSDP.optim_state_dict_to_load(state_dict, model, optim)`` (torch 2.0's
    argument order); torch >= 2.1 takes ``(model, optim, optim_state_dict)``,
    so resuming an FSDP run fails. Call it with keywords instead; and since
    torch's resharding calls ``.cpu()`` on every state, hand it Python-number
    states (an int ``step``) as tensors and give them back as numbers."""
    after_import('mmengine._strategy.fsdp', _fix_fsdp_load_optim_state_dict)


def _cast_floats_only(deepspeed_strategy: ModuleType) -> None:
    wrapper = deepspeed_strategy.MMDeepSpeedEngineWrapper
    if getattr(wrapper._cast_inputs_half, '_vtg_fixed', False):
        return
    import torch
    from mmengine.utils import apply_to

    def cast(value, dtype):
        return apply_to(
            value,
            lambda x: isinstance(x, torch.Tensor) and x.is_floating_point(),
            lambda x: x.to(dtype))

    def _cast_inputs_half(self, inputs):
        if self._inputs_to_half is None:
            return inputs
        dtype = next(self.model.parameters()).dtype
        if isinstance(inputs, (list, tuple)):
            return inputs.__class__(
                cast(v, dtype) if i in self._inputs_to_half else v
                for i, v in enumerate(inputs))
        if isinstance(inputs, dict):
            for key in self._inputs_to_half:
                if key in inputs:
                    inputs[key] = cast(inputs[key], dtype)
            return inputs
        raise TypeError('inputs should be list, tuple or dict, '
                        f'but got {type(inputs)}')

    _cast_inputs_half._vtg_fixed = True
    _cast_inputs_half.__doc__ = wrapper._cast_inputs_half.__doc__
    wrapper._cast_inputs_half = _cast_inputs_half


def cast_only_float_inputs_to_half() -> None:
    """mmengine 0.10.7's ``MMDeepSpeedEngineWrapper`` casts every tensor
    under an ``inputs_to_half`` key to the weights' dtype, integer ones too:
    token ids become fp16/bf16 (ids above 256 lose their value in bf16) and
    embedding lookups fail. Cast the floating-point tensors only."""
    after_import('mmengine._strategy.deepspeed', _cast_floats_only)


def _register_once(deepspeed_strategy: ModuleType) -> None:
    register = deepspeed_strategy.register_deepspeed_optimizers
    if getattr(register, '_vtg_fixed', False):
        return
    names = []

    def register_deepspeed_optimizers():
        if not names:
            names.extend(register())
        return list(names)

    register_deepspeed_optimizers._vtg_fixed = True
    register_deepspeed_optimizers.__doc__ = register.__doc__
    deepspeed_strategy.register_deepspeed_optimizers = \
        register_deepspeed_optimizers


def register_deepspeed_optimizers_once() -> None:
    """mmengine 0.10.7's ``DeepSpeedStrategy.__init__`` registers
    DeepSpeed's optimizers every time, and the registry refuses a second
    registration: a second DeepSpeed runner in one process (train, then
    test; one run after another in a script) fails with ``KeyError:
    'DeepSpeedCPUAdam is already registered'``. Register them once."""
    after_import('mmengine._strategy.deepspeed', _register_once)


def _call_hooks_on_deepspeed_checkpoints(ds: ModuleType) -> None:
    strategy = ds.DeepSpeedStrategy
    if getattr(strategy.save_checkpoint, '_vtg_fixed', False):
        return
    save, resume, load = (strategy.save_checkpoint, strategy.resume,
                          strategy.load_checkpoint)

    def save_checkpoint(self,
                        filename,
                        *,
                        save_optimizer=True,
                        save_param_scheduler=True,
                        extra_ckpt=None,
                        callback=None):
        extra = dict(extra_ckpt or {})
        if callback is not None:
            # hooks may read or replace the weights (EMAHook swaps its
            # averaged ones in): offered when not partitioned (ZeRO <= 2),
            # saved only when a hook replaced them
            offered = None
            if not self.model.zero_optimization_partition_weights():
                extra['state_dict'] = self.model.module_state_dict()
                offered = dict(extra['state_dict'])
            callback(extra)
            weights = extra.get('state_dict')
            if weights is not None and offered is not None and \
                    weights.keys() == offered.keys() and \
                    all(weights[k] is offered[k] for k in offered):
                del extra['state_dict']  # untouched: DeepSpeed saves them
            elif weights is not None:
                extra['state_dict'] = ds.weights_to_cpu(weights)
        save(
            self,
            filename,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            extra_ckpt=extra)

    def with_callback(method):

        def run(self, filename, *, callback=None, **kwargs):
            checkpoint = method(self, filename, **kwargs)
            if callback is not None:
                callback(checkpoint)
            return checkpoint

        run._vtg_fixed = True
        run.__doc__ = method.__doc__
        return run

    save_checkpoint._vtg_fixed = True
    save_checkpoint.__doc__ = save.__doc__
    strategy.save_checkpoint = save_checkpoint
    strategy.resume = with_callback(resume)
    strategy.load_checkpoint = with_callback(load)


def call_hooks_on_deepspeed_checkpoints() -> None:
    """mmengine 0.10.7's ``DeepSpeedStrategy`` ignores the ``callback`` of
    ``save_checkpoint``, ``resume`` and ``load_checkpoint``, through which
    ``FlexibleRunner`` calls the hooks' ``before_save_checkpoint`` and
    ``after_load_checkpoint``: under DeepSpeed, EMAHook's averaged weights
    and every other hook's checkpoint state are silently never saved or
    restored. Call the callback on the checkpoint's extra (client) state."""
    after_import('mmengine._strategy.deepspeed',
                 _call_hooks_on_deepspeed_checkpoints)


def _scale_lr_under_deepspeed(ds: ModuleType) -> None:
    strategy = ds.DeepSpeedStrategy
    wrap = strategy._wrap_model
    if getattr(wrap, '_vtg_fixed', False) or \
            '_scale_lr' in strategy.prepare.__code__.co_names:
        return

    def _wrap_model(self, model):
        if hasattr(self, 'optim_wrapper'):  # built; schedulers not yet
            self._scale_lr()
        return wrap(self, model)

    _wrap_model._vtg_fixed = True
    _wrap_model.__doc__ = wrap.__doc__
    strategy._wrap_model = _wrap_model


def scale_lr_under_deepspeed() -> None:
    """mmengine 0.10.7's ``DeepSpeedStrategy.prepare`` never calls
    ``_scale_lr`` (``Runner`` and the other strategies do): under DeepSpeed
    ``auto_scale_lr`` (``--auto-scale-lr``) is silently ignored. Scale the
    lr as the others do, once the optimizer wrapper is built (``prepare``
    then wraps the model) and before the param schedulers store it."""
    after_import('mmengine._strategy.deepspeed', _scale_lr_under_deepspeed)


def _keep_caller_progress(flexible: ModuleType) -> None:
    runner = flexible.FlexibleRunner
    if getattr(runner.save_checkpoint, '_vtg_fixed', False):
        return
    original = runner.save_checkpoint

    def save_checkpoint(self, *args, **kwargs):
        meta = kwargs.get('meta') or {}
        given = {k: meta[k] for k in ('epoch', 'iter') if k in meta}
        if not given:
            return original(self, *args, **kwargs)
        strategy_save = self.strategy.save_checkpoint

        def save(*save_args, extra_ckpt=None, **save_kwargs):
            extra_ckpt['meta'].update(given)
            return strategy_save(
                *save_args, extra_ckpt=extra_ckpt, **save_kwargs)

        self.strategy.save_checkpoint = save
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.strategy.save_checkpoint

    save_checkpoint._vtg_fixed = True
    save_checkpoint.__doc__ = original.__doc__
    runner.save_checkpoint = save_checkpoint


def keep_checkpoint_progress_given_by_hooks() -> None:
    """mmengine 0.10.7's ``FlexibleRunner.save_checkpoint`` overwrites the
    ``epoch``/``iter`` of the ``meta`` its caller passes (``Runner`` keeps
    them). ``CheckpointHook`` saves the last checkpoint again after a new
    best validation score, when the epoch counter has already moved on, so
    under DeepSpeed/FSDP ``epoch_N.pth`` says epoch N+1 and a run resumed
    from it skips an epoch. Keep the caller's values."""
    after_import('mmengine.runner._flexible_runner', _keep_caller_progress)


def _defer_ema_loading(ema: ModuleType) -> None:
    hook = ema.EMAHook
    if getattr(hook.after_load_checkpoint, '_vtg_fixed', False):
        return
    load, before_run = hook.after_load_checkpoint, hook.before_run

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not hasattr(self, 'ema_model'):
            self._vtg_pending_checkpoint = checkpoint
            return
        load(self, runner, checkpoint)

    def run_first(self, runner) -> None:
        before_run(self, runner)
        pending = self.__dict__.pop('_vtg_pending_checkpoint', None)
        if pending is not None:
            load(self, runner, pending)

    after_load_checkpoint._vtg_fixed = True
    after_load_checkpoint.__doc__ = load.__doc__
    run_first.__doc__ = before_run.__doc__
    hook.after_load_checkpoint = after_load_checkpoint
    hook.before_run = run_first


def load_ema_after_it_exists() -> None:
    """``EMAHook`` builds its averaged model in ``before_run``, but
    mmengine 0.10.7's ``FlexibleRunner`` loads or resumes a checkpoint
    before calling ``before_run`` (``Runner`` after), so resuming an EMA run
    on DeepSpeed or FSDP fails with "'EMAHook' object has no attribute
    'ema_model'". Keep the checkpoint until the averaged model exists."""
    after_import('mmengine.hooks.ema_hook', _defer_ema_loading)


def apply() -> None:
    """Install the mmengine fixes (each waits for its module)."""
    register_trusted_local_loader()
    register_bf16_optim_wrapper()
    make_local_writes_atomic()
    fix_fsdp_optim_state_dict_to_load()
    cast_only_float_inputs_to_half()
    register_deepspeed_optimizers_once()
    call_hooks_on_deepspeed_checkpoints()
    scale_lr_under_deepspeed()
    keep_checkpoint_progress_given_by_hooks()
    load_ema_after_it_exists()
