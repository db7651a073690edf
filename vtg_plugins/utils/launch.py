"""Config preparation shared by ``tools/train.py`` and ``tools/test.py``.

Turns command-line choices (work dir, AMP, launcher, overrides) into config
changes, lints the merged config, sets up distributed runs on machines
without CUDA (gloo, DDP without ``device_ids``), and builds the right runner
(``Runner`` or, for DeepSpeed/FSDP strategies, ``FlexibleRunner``).
"""
import logging
import os
import os.path as osp
from typing import Iterable, Optional

import torch
from mmengine.config import Config

from . import strategies


def check_cfg_options(cfg: Config, options: Optional[dict],
                      config_path: str) -> None:
    """Refuse ``--cfg-options`` whose path does not exist in the config.

    A typo such as ``optim_wraper.optimizer.lr=1e-3`` would otherwise add a
    new, unused key and silently train with the old value. Every component
    but the last must exist; the last may be new only under an existing dict
    (e.g. adding ``model.init_cfg``).

    Raises:
        KeyError: naming the config file and the unknown key.
    """
    for key in options or {}:
        node = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        parts = key.split('.')
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    raise KeyError(f'{config_path}: --cfg-options {key}: '
                                   f'index {part} is out of range')
                node = node[int(part)]
                continue
            if not isinstance(node, dict) or part not in node:
                where = '.'.join(parts[:depth]) or '<top level>'
                known = sorted(node) if isinstance(node, dict) else []
                raise KeyError(
                    f'{config_path}: --cfg-options {key}: no key {part!r} '
                    f'under {where}; known keys: {known}')
            node = node[part]
        if len(parts) == 1 and parts[0] not in node:
            raise KeyError(f'{config_path}: --cfg-options {key}: unknown '
                           f'top-level key; known keys: {sorted(node)}')


def set_work_dir(cfg: Config, work_dir: Optional[str],
                 config_path: str) -> None:
    """CLI ``--work-dir`` > ``work_dir`` in the file > ``work_dirs/<name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def enable_amp(cfg: Config, dtype: str = 'auto') -> None:
    """Mixed precision: fp16 (or bf16) ``AmpOptimWrapper`` on CUDA, bf16
    autocast (``BF16OptimWrapper``) on CPU, where AmpOptimWrapper refuses to
    run. ``dtype`` is 'auto' (fp16 on CUDA), 'float16' or 'bfloat16'."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'BF16OptimWrapper'):
        raise ValueError(f'--amp cannot change the custom optimizer wrapper '
                         f'{wrapper!r}; set it in the config instead')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        if dtype != 'auto':
            cfg.optim_wrapper.dtype = dtype
    else:
        if dtype == 'float16':
            raise ValueError('--amp-dtype float16 needs CUDA; on CPU only '
                             'bfloat16 autocast is supported')
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)


def adapt_amp_to_device(cfg: Config) -> bool:
    """Configs state the paper's fp16 ``AmpOptimWrapper``; without CUDA it
    refuses to start, so use bf16 autocast (``BF16OptimWrapper``) instead.
    Returns True when the wrapper was changed."""
    wrapper = cfg.get('optim_wrapper')
    if torch.cuda.is_available() or not wrapper or \
            wrapper.get('type') != 'AmpOptimWrapper':
        return False
    wrapper.type = 'BF16OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):
        wrapper.pop(key, None)
    from mmengine.logging import print_log
    print_log(
        'no CUDA: AmpOptimWrapper (fp16) -> BF16OptimWrapper (bf16 '
        'autocast on CPU)',
        logger='current')
    return True


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


def cpu_model_wrapper_cfg(cfg: Optional[dict] = None) -> dict:
    """DDP wrapper config for CPU: ``device_ids=None`` (the Runner's default
    ``[LOCAL_RANK]`` makes DDP look for a CUDA device)."""
    cfg = dict(cfg or {})
    cfg.setdefault('type', 'MMDistributedDataParallel')
    cfg['device_ids'] = None
    return cfg


def setup_launcher(cfg: Config, launcher: str, local_rank: int) -> None:
    """Record the launcher; on machines without CUDA initialise gloo
    ourselves and wrap models with ``device_ids=None``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(local_rank)
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if 'strategy' not in cfg:
        cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(
            cfg.get('model_wrapper_cfg'))
    init_cpu_distributed(launcher)


def add_tensorboard(cfg: Config) -> None:
    """Append the config's ``tensorboard_backend`` to the visualizer."""
    backend = cfg.get('tensorboard_backend',
                      dict(type='TensorboardVisBackend'))
    cfg.visualizer.setdefault('vis_backends', [])
    cfg.visualizer.vis_backends.append(backend)


def build_runner(cfg: Config):
    """``FlexibleRunner`` when the config names a ``strategy`` (DeepSpeed,
    FSDP), a registered runner for ``runner_type``, else ``Runner``; with
    the modules of ``activation_checkpointing_types`` checkpointed."""
    if 'strategy' in cfg:
        from mmengine.runner import FlexibleRunner
        runner = FlexibleRunner.from_cfg(cfg)
    elif 'runner_type' in cfg:
        from vtg_plugins.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        from mmengine.runner import Runner
        runner = Runner.from_cfg(cfg)
    _checkpoint_activations(runner, strategies.checkpointed_module_types(cfg))
    return runner


def _checkpoint_activations(runner, module_types) -> None:
    """Checkpoint ``module_types`` in the runner's model: built here for a
    ``FlexibleRunner`` (whose strategy wraps it later), inside the DDP
    wrapper for a ``Runner`` (parameters and their hooks stay the same)."""
    if not module_types:
        return
    from mmengine.model import is_model_wrapper
    from mmengine.registry import MODELS
    from vtg_plugins.engine.activation_checkpointing import \
        apply_activation_checkpointing
    if isinstance(runner.model, dict):
        runner.model = MODELS.build(runner.model)
    model = runner.model.module if is_model_wrapper(runner.model) \
        else runner.model
    count = apply_activation_checkpointing(model, module_types)
    from mmengine.logging import print_log
    print_log(
        f'activation checkpointing: {count} modules of {module_types}',
        logger='current')


def installed_projects_epilog() -> str:
    """Text for ``--help``: the method projects found in this environment."""
    from vtg_plugins.utils.projects import list_projects
    projects = list_projects()
    lines = [
        f'  {n:<12} {p["module"]} ({p["dist"]} {p["version"]})'
        for n, p in projects.items()
    ]
    return 'installed projects:\n' + ('\n'.join(lines) or '  none')


def load_config(path: str,
                options: Optional[dict],
                strategy: Optional[str] = None) -> Config:
    """Read a config, put the ``--strategy`` overlay on it (see
    :mod:`.strategies`), then apply validated ``--cfg-options`` (which may
    change the overlay's keys too)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if strategy:
        strategies.apply_strategy_overlay(cfg, strategy, path)
    check_cfg_options(cfg, options, path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def add_config_lint_argument(parser) -> None:
    """``--no-config-lint``: the escape hatch of :func:`lint_config`."""
    parser.add_argument(
        '--no-config-lint',
        action='store_true',
        help='do not check the config keys against the classes that read '
        'them (see tools/analysis/check_config.py)')


def lint_config(cfg: Config,
                config_path: str,
                options: Optional[dict],
                enabled: bool = True) -> None:
    """Refuse, before the Runner is built, every key of the merged config
    that its class (or the Runner) does not read, and every unknown type
    (:mod:`vtg_plugins.utils.config_lint`); ``enabled=False`` (the tools'
    ``--no-config-lint``) only logs that the check is skipped.

    Raises:
        KeyError: naming the config file and each bad key path, the
            closest valid names and where the key came from.
    """
    from mmengine.logging import print_log
    if not enabled:
        print_log(
            '--no-config-lint: config keys not checked',
            logger='current',
            level=logging.WARNING)
        return
    from .config_lint import check_config
    footer = ('\n(tools/analysis/check_config.py runs this check; '
              '--no-config-lint skips it)')
    check_config(cfg, config_path, options, footer=footer)


def print_rank0(lines: Iterable[str]) -> None:
    from mmengine.dist import get_rank
    if get_rank() == 0:
        for line in lines:
            print(line, flush=True)
