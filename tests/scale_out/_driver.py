"""Run every (case, engine) of a spec on the processes torchrun started.

``python -m torch.distributed.run --nproc_per_node 2 _driver.py SPEC``
where SPEC (json) holds ``folder`` (the data lies under it; runs go to
``folder/<case>/<engine>/{full,resumed}``), ``cases`` and ``engines``
(names in :mod:`cases`) and ``out`` (the results file rank 0 writes).

Each pair trains twice through ``tools/train.py``'s own steps, in this
process: ``full`` for the case's epochs, ``resumed`` from ``full``'s
checkpoint one epoch before the end (what an interrupted run leaves).
Results hold each run's last validation metrics and work dirs, or the
tools' refusal of the config (``refused``). A run failing later ends the
driver (the other rank would wait in a collective forever); the results
name it and its traceback.
"""
import datetime
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

import torch.distributed as dist

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, ENGINES  # noqa: E402


def _train_module():
    spec = importlib.util.spec_from_file_location('vtg_train_tool',
                                                  REPO / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Refused(Exception):
    """The tools refused the config (the same on every rank, before any
    collective): recorded, and the driver goes on."""


def _run(train, argv, name):
    """``tools/train.py argv`` with a unique experiment name (runners of one
    process share loggers and message hubs by name); returns the last
    validation metrics."""
    from vtg_plugins.utils import launch
    args = train.parse_args(argv)
    try:
        cfg = launch.load_config(args.config, args.cfg_options, args.strategy)
        cfg = train.merge_args(cfg, args)
    except ValueError as error:
        raise Refused(f'{error}\n{traceback.format_exc()}') from error
    cfg.experiment_name = name
    launch.lint_config(cfg, args.config, args.cfg_options)
    runner = launch.build_runner(cfg)
    runner.train()
    return {
        key[len('val/'):]: float(value.current())
        for key, value in runner.message_hub.log_scalars.items()
        if key.startswith('val/')
    }


def _argv(case, engine, work_dir, resume_from=None):
    options = [
        f'train_cfg.max_epochs={case.epochs}', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1', *case.options,
        *case.engine_options.get(engine, [])
    ]
    argv = [
        str(REPO / case.config), '--work-dir',
        str(work_dir), '--launcher', 'pytorch'
    ]
    if ENGINES[engine]:
        argv += ['--strategy', ENGINES[engine]]
        if engine.startswith('zero'):  # fp32 ZeRO: no loss scale, no cast
            options.append('strategy.fp16.enabled=False')
    if resume_from is not None:
        argv += ['--resume', str(resume_from)]
    return argv + ['--cfg-options', *options]


def main(spec_file):
    spec = json.loads(Path(spec_file).read_text())
    dist.init_process_group(
        backend='gloo', timeout=datetime.timedelta(seconds=120))
    rank = dist.get_rank()
    folder = Path(spec['folder'])
    os.chdir(folder)  # the tiny configs' data paths are relative
    train = _train_module()
    results = {}

    def write():  # atomic: the test may read it while the driver runs
        if rank == 0:
            partial = Path(spec['out'] + '.partial')
            partial.write_text(json.dumps(results, indent=1))
            os.replace(partial, spec['out'])

    # engine by engine, ZeRO-3 last: it leaves torch's linear replaced by
    # its own in the process (zero3_linear_wrap), which other engines'
    # models then call
    engines = sorted(spec['engines'], key=lambda e: e == 'zero3')
    for engine in engines:
        for name in spec['cases']:
            key = f'{name}/{engine}'
            try:
                results[key] = _pair(train, name, engine, folder)
            except Refused as refusal:
                results[key] = dict(refused=str(refusal))
            except Exception:  # noqa: BLE001  (recorded, then the end)
                results[key] = dict(error=traceback.format_exc())
                print(
                    f'rank {rank}: {key} failed\n{results[key]["error"]}',
                    file=sys.stderr)
                write()
                sys.stdout.flush()
                os._exit(1)
            write()
    dist.destroy_process_group()


def _pair(train, name, engine, folder):
    """The whole run and the resumed one of ``name`` on ``engine``."""
    case = CASES[name]
    runs = folder / name / engine
    full = _run(train, _argv(case, engine, runs / 'full'),
                f'{name}_{engine}_full')
    before_end = runs / 'full' / f'epoch_{case.epochs - 1}.pth'
    resumed = _run(train, _argv(case, engine, runs / 'resumed', before_end),
                   f'{name}_{engine}_resumed')
    return dict(
        full=full,
        resumed=resumed,
        work_dirs=[str(runs / 'full'),
                   str(runs / 'resumed')])


if __name__ == '__main__':
    main(sys.argv[1])
