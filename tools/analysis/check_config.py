"""Check configs without running them:
``python tools/analysis/check_config.py CONFIG [CONFIG | DIR ...]``.

For each config, the check ``tools/train.py`` and ``tools/test.py`` run
before building the Runner (every key against the class or Runner part that
reads it, every type against its registry: ``vtg_plugins.utils.config_lint``)
and its name against its values (``{gpus}xb{batch}-{epochs}e`` or
``-{k}k`` iterations: ``vtg_plugins.utils.config_name``). A directory stands
for every config under it but the ``_base_`` fragments. Prints ``ok CONFIG``
or the problems of each; exits 1 when any config has one.
"""
import argparse
import glob
import os.path as osp
import sys

from mmengine.config import DictAction

import vtg_plugins  # noqa: F401  (installs the upstream fixes)
from vtg_plugins.utils import launch
from vtg_plugins.utils.config_lint import format_problems, lint_config
from vtg_plugins.utils.config_name import check_config_name, \
    parse_config_name


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Lint configs: unknown keys and types, names that '
        'contradict values')
    parser.add_argument(
        'configs', nargs='+', help='config files or directories')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config before the check')
    return parser.parse_args(argv)


def expand(paths):
    """Config files of ``paths``; a directory: its ``.py`` files outside
    ``_base_`` folders, sorted."""
    for path in paths:
        if osp.isdir(path):
            found = glob.glob(osp.join(path, '**', '*.py'), recursive=True)
            yield from sorted(p for p in found
                              if '_base_' not in p.split(osp.sep))
        else:
            yield path


def check_one(path: str, options) -> bool:
    """Print the result for one config; True when it has no problem."""
    try:
        cfg = launch.load_config(path, options)
        problems = lint_config(cfg)
    except Exception as err:  # noqa: BLE001  (report it, check the rest)
        print(f'{path}: cannot be checked: {type(err).__name__}: {err}')
        return False
    names = check_config_name(cfg, path)
    if not problems and not names:
        note = '' if parse_config_name(path) else (
            ' (name has no {gpus}xb{batch}-{schedule} field: not checked)')
        print(f'ok {path}{note}')
        return True
    print(f'{path}: {len(problems) + len(names)} problem(s):')
    if problems:
        print(format_problems(problems, path, options))
    for line in names:
        print(f'  name: {line}')
    return False


def main(argv=None) -> int:
    args = parse_args(argv)
    results = [check_one(p, args.cfg_options) for p in expand(args.configs)]
    if not results:
        print('no config found in ' + ' '.join(args.configs))
        return 1
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
