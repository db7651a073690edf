"""Train a model from a config: ``python tools/train.py CONFIG [options]``.

Single process, ``tools/dist_train.sh`` (torchrun) or ``tools/slurm_train.sh``.
Works without CUDA (gloo, bf16 autocast for ``--amp``).
"""
import argparse

from mmengine.config import DictAction

import vtg_plugins  # noqa: F401  (installs the upstream fixes)
from vtg_plugins.utils import launch, strategies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train a vtg_plugins model',
        epilog=launch.installed_projects_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from PATH, or without PATH from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: fp16 on GPU, bf16 autocast on CPU')
    parser.add_argument(
        '--amp-dtype',
        choices=['auto', 'float16', 'bfloat16'],
        default='auto',
        help='autocast dtype for --amp (auto: fp16 on GPU, bf16 on CPU)')
    parser.add_argument(
        '--strategy',
        help='train on an engine: an overlay name from '
        'configs/_base_/strategies (deepspeed_zero1/2/3[_bf16], fsdp, '
        'fsdp_bf16) or a path; replaces the config\'s strategy')
    parser.add_argument(
        '--activation-checkpointing',
        nargs='+',
        metavar='MODULE_TYPE',
        help='recompute the activations of these module classes in '
        'backward (e.g. BertLayer), on every engine; replaces the '
        'config\'s activation_checkpointing_types')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (total batch / auto_scale_lr.base_batch_size)')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--diff-rank-seed',
        action='store_true',
        help='a different seed on every rank')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic algorithms (slower)')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (work_dir/<time>/vis_data)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, key=value (the key must exist)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    launch.add_config_lint_argument(parser)
    return parser.parse_args(argv)


def merge_args(cfg, args):
    """Apply command-line choices to the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    launch.set_work_dir(cfg, args.work_dir, args.config)
    if args.amp:
        if cfg.get('strategy', {}).get('type') == 'DeepSpeedStrategy':
            raise ValueError('--amp: DeepSpeed takes its precision from the '
                             'strategy (the *_bf16 overlays, or fp16)')
        launch.enable_amp(cfg, args.amp_dtype)
    launch.adapt_amp_to_device(cfg)
    if args.activation_checkpointing:
        cfg.activation_checkpointing_types = args.activation_checkpointing
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    randomness = cfg.get('randomness', None) or {}
    if args.seed is not None:
        randomness['seed'] = args.seed
    if args.diff_rank_seed:
        randomness['diff_rank_seed'] = True
    if args.deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness
    if args.tensorboard:
        launch.add_tensorboard(cfg)
    launch.setup_launcher(cfg, args.launcher, args.local_rank)
    strategies.fit_optim_wrapper_to_strategy(cfg, args.config)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = launch.load_config(args.config, args.cfg_options, args.strategy)
    cfg = merge_args(cfg, args)
    launch.lint_config(
        cfg, args.config, args.cfg_options, enabled=not args.no_config_lint)
    runner = launch.build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
