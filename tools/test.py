"""Test a checkpoint: ``python tools/test.py CONFIG [CHECKPOINT] [options]``.

``--dump FILE`` also writes the predictions: ``.pkl`` as MMEngine's raw
results, ``.json``/``.jsonl`` in the dataset's official submission format.
Before testing, the reproducibility card of the checkpoint is printed (or
that it has none), with a warning for each feature-recipe field in which the
test config differs from it (read from the checkpoint as the runner loads
it: the file is read once).
"""
import argparse
import json
import logging
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import print_log

import vtg_plugins  # noqa: F401  (installs the upstream fixes)
from vtg_plugins.utils import launch, strategies


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a vtg_plugins model',
        epilog=launch.installed_projects_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint file (path or URL); omit it only for a model that '
        'loads its own weights (e.g. a selector + experts recognizer whose '
        'config names their checkpoints)')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument(
        '--dump',
        type=str,
        help='write predictions: .pkl (raw) or .json/.jsonl (official '
        'submission format of the dataset)')
    parser.add_argument(
        '--show-dir',
        help='write per-sample visualizations (plots) into this directory '
        'under the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='test under autocast (fp16 on GPU, bf16 on CPU)')
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


def add_dump(cfg, path: str) -> None:
    """Append a dumping metric to the test evaluator."""
    if path.endswith('.pkl') or path.endswith('.pickle'):
        dump = dict(type='DumpResults', out_file_path=path)
    elif path.endswith('.json') or path.endswith('.jsonl'):
        dump = dict(type='DumpSubmission', out_file_path=path)
    else:
        raise ValueError(f'--dump {path}: use a .pkl, .json or .jsonl file')
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, dump]
    elif 'metrics' in evaluator:
        metrics = evaluator.metrics
        metrics = list(metrics) if isinstance(metrics,
                                              (list, tuple)) else [metrics]
        evaluator.metrics = [*metrics, dump]
    else:
        cfg.test_evaluator = [evaluator, dump]


def add_show_dir(cfg, show_dir: str) -> None:
    """Turn on the config's visualization hook, writing into show_dir."""
    hooks = cfg.get('default_hooks', {})
    hook = hooks.get('visualization')
    if hook is None:
        raise ValueError(
            f'--show-dir: the config {cfg.filename} has no '
            f'default_hooks.visualization hook to draw predictions with')
    hook.enable = True
    hook.out_dir = show_dir


def add_card_check(runner) -> None:
    """Print the card of the checkpoint the runner loads and warn where the
    config's test recipes differ (unless the config asks for it already)."""
    from vtg_plugins.engine import CheckpointCardHook
    if not any(isinstance(h, CheckpointCardHook) for h in runner.hooks):
        runner.register_hook(CheckpointCardHook(split='test'))


def main(argv=None):
    args = parse_args(argv)
    cfg = launch.load_config(args.config, args.cfg_options)
    launch.set_work_dir(cfg, args.work_dir, args.config)
    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    else:
        print_log(
            'no CHECKPOINT given: testing the weights the model loads '
            'itself when built',
            logger='current',
            level=logging.WARNING)
    cfg.resume = False
    if args.dump:
        add_dump(cfg, osp.abspath(args.dump))
    if args.show_dir:
        add_show_dir(cfg, args.show_dir)
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    strategies.test_without_engine_when_single(cfg, args.launcher,
                                               args.checkpoint)
    launch.setup_launcher(cfg, args.launcher, args.local_rank)
    strategies.fit_optim_wrapper_to_strategy(cfg, args.config)
    launch.lint_config(
        cfg, args.config, args.cfg_options, enabled=not args.no_config_lint)
    runner = launch.build_runner(cfg)
    if args.checkpoint is not None:
        add_card_check(runner)
    metrics = runner.test()
    launch.print_rank0(['metrics: ' + json.dumps(metrics, sort_keys=True)])


if __name__ == '__main__':
    main()
