"""Scale-out engines from one config: strategy overlays and their fit.

A method config states its optimizer the MMEngine way
(``optim_wrapper=dict(optimizer=..., clip_grad=..., accumulative_counts=...)``)
for one process or DDP. The overlays in ``configs/_base_/strategies/`` add a
``strategy`` (DeepSpeed ZeRO-1/2/3, FSDP) without restating it, and
:func:`fit_optim_wrapper_to_strategy` moves what the engine does itself out
of the wrapper:

* DeepSpeed: ``DeepSpeedOptimWrapper`` around the same optimizer,
  constructor and ``paramwise_cfg``; ``clip_grad.max_norm`` becomes
  ``gradient_clipping``, ``accumulative_counts`` becomes
  ``gradient_accumulation_steps``, the train loader's batch size becomes
  ``train_micro_batch_size_per_gpu`` (values the strategy states win). fp16
  on a machine without CUDA becomes bf16 (DeepSpeed's CPU accelerator has
  no fp16), as ``--amp`` does.
* FSDP: the wrapper clips by the global norm (:mod:`..engine.fsdp_optim_wrapper`);
  without CUDA the FSDP module is placed on the CPU (``device_id='cpu'``;
  torch's FSDP otherwise refuses to start).

Every change is logged; the work dir's dumped config shows the result.
"""
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config, ConfigDict

STRATEGY_DIR = osp.join('_base_', 'strategies')
PLAIN_WRAPPERS = (None, 'OptimWrapper', 'AmpOptimWrapper', 'BF16OptimWrapper')
FSDP_WRAPPERS = {
    None: 'FSDPOptimWrapper',
    'OptimWrapper': 'FSDPOptimWrapper',
    'AmpOptimWrapper': 'FSDPAmpOptimWrapper',
    'BF16OptimWrapper': 'FSDPBF16OptimWrapper',
}

# MMEngine's 'full' with offload_to_cpu=False. torch's FSDP gathers every
# optimizer state of a parameter into one reused buffer and keeps views of
# it unless offloading copies them to the CPU; already on the CPU nothing
# copies, so each state came out as the last one gathered (Adam's exp_avg
# saved as exp_avg_sq). Without offloading it clones each view.
FULL_STATE_DICTS_ON_CPU = dict(
    state_dict_type='FULL_STATE_DICT',
    state_dict_config=dict(
        type='FullStateDictConfig', rank0_only=True, offload_to_cpu=False),
    optim_state_dict_config=dict(
        type='FullOptimStateDictConfig', rank0_only=True,
        offload_to_cpu=False))


def _log(message: str) -> None:
    from mmengine.logging import print_log
    print_log(message, logger='current')


def strategy_overlay_path(name: str, config_path: str) -> str:
    """The overlay file for ``--strategy NAME``: a path, or a name in the
    ``configs/_base_/strategies/`` above ``config_path`` (or in the installed
    package's configs).

    Raises:
        FileNotFoundError: naming the places searched and the overlays
            found there.
    """
    if osp.isfile(name):
        return name
    file = name if name.endswith('.py') else f'{name}.py'
    roots = []
    folder = osp.dirname(osp.abspath(config_path))
    while folder != osp.dirname(folder):
        roots.append(osp.join(folder, STRATEGY_DIR))
        folder = osp.dirname(folder)
    import vtg_plugins
    package = osp.dirname(vtg_plugins.__file__)
    roots.append(osp.join(package, '.mim', 'configs', STRATEGY_DIR))
    roots.append(osp.join(osp.dirname(package), 'configs', STRATEGY_DIR))
    for root in roots:
        if osp.isfile(osp.join(root, file)):
            return osp.join(root, file)
    known = sorted({
        f[:-3]
        for root in roots if osp.isdir(root) for f in os.listdir(root)
        if f.endswith('.py')
    })
    raise FileNotFoundError(
        f'--strategy {name}: no such file and no overlay {file} in '
        f'{STRATEGY_DIR} above {config_path}; known overlays: {known}')


def apply_strategy_overlay(cfg: Config, name: str, config_path: str) -> str:
    """Replace the config's ``strategy`` (if any) by the overlay's; returns
    the overlay path."""
    path = strategy_overlay_path(name, config_path)
    overlay = Config.fromfile(path)
    if 'strategy' not in overlay:
        raise KeyError(f'{path}: a strategy overlay must define `strategy`')
    cfg.strategy = overlay.strategy
    for key in ('model_wrapper_cfg', ):
        cfg.pop(key, None)  # DDP's wrapper does not apply any more
    _log(f'--strategy: strategy from {path}')
    return path


def _deepspeed_clip(clip_grad: Optional[dict], where: str) -> Optional[float]:
    if not clip_grad:
        return None
    kind = clip_grad.get('type', 'norm')
    norm_type = clip_grad.get('norm_type', 2)
    if kind != 'norm' or float(norm_type) != 2.0:
        raise ValueError(
            f'{where}: DeepSpeed clips by the L2 norm only; '
            f'clip_grad={dict(clip_grad)} has no DeepSpeed equivalent')
    return clip_grad['max_norm']


def _precision_for_device(strategy: ConfigDict) -> None:
    fp16 = strategy.get('fp16') or {}
    if torch.cuda.is_available() or not fp16.get('enabled', False):
        return
    strategy.fp16 = dict(enabled=False)
    strategy.bf16 = dict(enabled=True)
    _log('no CUDA: DeepSpeed fp16 -> bf16 (the CPU accelerator has no fp16)')


def _fit_deepspeed(cfg: Config, where: str) -> None:
    strategy, wrapper = cfg.strategy, cfg.optim_wrapper
    _precision_for_device(strategy)
    if wrapper.get('type') == 'DeepSpeedOptimWrapper':
        return  # stated for DeepSpeed already
    if wrapper.get('type') not in PLAIN_WRAPPERS:
        raise ValueError(
            f'{where}: optim_wrapper type {wrapper.get("type")!r} cannot be '
            f'moved onto DeepSpeed; state a DeepSpeedOptimWrapper instead')
    moved = dict(
        gradient_clipping=_deepspeed_clip(wrapper.get('clip_grad'), where),
        gradient_accumulation_steps=wrapper.get('accumulative_counts'),
        train_micro_batch_size_per_gpu=cfg.train_dataloader.get('batch_size'))
    for key, value in moved.items():
        if value is not None and strategy.get(key) is None:
            strategy[key] = value
    cfg.optim_wrapper = ConfigDict(
        type='DeepSpeedOptimWrapper',
        **{
            k: wrapper[k]
            for k in ('optimizer', 'constructor', 'paramwise_cfg')
            if k in wrapper
        })
    _log(f'DeepSpeed: optim_wrapper {wrapper.get("type", "OptimWrapper")} '
         f'-> DeepSpeedOptimWrapper; strategy takes '
         f'{ {k: v for k, v in moved.items() if v is not None} }')


def _fit_fsdp(cfg: Config, where: str) -> None:
    strategy, wrapper = cfg.strategy, cfg.optim_wrapper
    if not torch.cuda.is_available():
        model_wrapper = strategy.get('model_wrapper') or ConfigDict()
        model_wrapper.setdefault('device_id', 'cpu')
        strategy.model_wrapper = model_wrapper
        if strategy.get('state_dict_cfg') == 'full':
            strategy.state_dict_cfg = FULL_STATE_DICTS_ON_CPU
    kind = wrapper.get('type')
    if kind in FSDP_WRAPPERS:
        wrapper.type = FSDP_WRAPPERS[kind]
        wrapper.pop('use_fsdp', None)
        _log(f'FSDP: optim_wrapper -> {wrapper.type} (global-norm clipping)')
    elif kind not in FSDP_WRAPPERS.values():
        raise ValueError(f'{where}: optim_wrapper type {kind!r} is not known '
                         f'to clip FSDP gradients correctly')


def _refuse_averaging_shards(cfg: Config, where: str) -> None:
    """EMAHook averages the parameters it sees; under FSDP and ZeRO-3 those
    are each rank's shards, and the averaged model it evaluates and saves
    would be a shard."""
    strategy = cfg.strategy
    stage = (strategy.get('zero_optimization') or {}).get('stage', 0)
    sharded = strategy.get('type') == 'FSDPStrategy' or (
        strategy.get('type') == 'DeepSpeedStrategy' and stage == 3)
    hooks = [h.get('type') for h in cfg.get('custom_hooks') or []]
    if sharded and 'EMAHook' in hooks:
        raise ValueError(
            f'{where}: EMAHook cannot average weights that FSDP / ZeRO-3 '
            f'partition over the ranks; train this config with DDP or '
            f'DeepSpeed ZeRO-1/2, or remove the EMAHook')


def fit_optim_wrapper_to_strategy(cfg: Config, where: str) -> None:
    """Fit ``optim_wrapper`` (and device details) to ``cfg.strategy``; a
    config without a strategy, or with another one, is left alone.

    Raises:
        ValueError: naming ``where`` (the config file) when the wrapper
            holds something the engine cannot do.
    """
    strategy = cfg.get('strategy')
    if not strategy or 'optim_wrapper' not in cfg:
        return
    _refuse_averaging_shards(cfg, where)
    kind = strategy.get('type')
    if kind == 'DeepSpeedStrategy':
        _fit_deepspeed(cfg, where)
    elif kind == 'FSDPStrategy':
        _fit_fsdp(cfg, where)


def checkpointed_module_types(cfg: Config) -> List[str]:
    """The module class names of ``cfg.activation_checkpointing_types``
    (empty when absent). MMEngine's own ``activation_checkpointing`` key
    names module attributes and acts in ``Runner`` only; this one names
    classes and acts on every engine."""
    return list(cfg.get('activation_checkpointing_types') or [])


def test_without_engine_when_single(cfg: Config, launcher: str,
                                    checkpoint: Optional[str]) -> None:
    """Testing in one process needs no engine: drop a DeepSpeed/FSDP
    ``strategy`` so a plain checkpoint (trained plainly or converted by
    ``tools/model_converters/strategy_to_plain.py``) runs on one CPU.

    Raises:
        ValueError: for a sharded checkpoint directory tested plainly,
            naming the converter.
    """
    if launcher != 'none':
        return
    if cfg.pop('strategy', None) is not None:
        _log('one process: testing without the config\'s strategy')
    if checkpoint and osp.isdir(checkpoint):
        raise ValueError(
            f'{checkpoint} is a directory (a DeepSpeed or sharded FSDP '
            f'checkpoint); convert it first: python tools/model_converters/'
            f'strategy_to_plain.py {checkpoint} plain.pth')
