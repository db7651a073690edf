"""The checks of a model zoo: its index, metafiles and configs.

:func:`check_model_index` reads the ``model-index.yml`` of a folder (see
:mod:`vtg_plugins.utils.model_zoo` for its layout and naming rules) and
returns every problem as ``FILE: model NAME: what is wrong``: imported
metafiles that do not exist or ones not imported, collections without
README / Paper / Code, models whose config does not exist, load or lint,
whose metadata disagrees with the config name, whose results are not
numbers, whose ``Weights`` break the naming rules or the hash a name
states, and full configs in no model.
"""
import functools
import glob
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Tuple

from vtg_plugins.utils.model_zoo import (ENGINE_VARIANTS, INDEX_FILE, Metafile,
                                         ModelIndex, ModelZooError,
                                         is_demo_config, load_model_index,
                                         parse_weights, sha256_of)

_GPUS = re.compile(r'^(\d+) GPUs?$')
_WEIGHTS_LINE = re.compile(r'^\s*Weights:\s*(\S+)')
_NAME_LINE = re.compile(r'^\s*-\s*Name:\s*(\S+)')


def entry_configs(root: str, folder: str) -> List[str]:
    """The ``.py`` configs under ``root/folder`` outside ``_base_``
    folders, relative to ``root``, sorted."""
    found = glob.glob(osp.join(root, folder, '**', '*.py'), recursive=True)
    rel = (osp.relpath(p, root) for p in found)
    return sorted(p for p in rel if '_base_' not in p.split(os.sep))


def base_configs(path: str) -> set:
    """Every file ``path`` inherits through ``_base_``, transitively
    (absolute paths; package configs ``pkg::...`` are skipped)."""
    from mmengine.config import Config
    seen, todo = set(), [osp.abspath(path)]
    while todo:
        current = todo.pop()
        for base in Config._get_base_files(current):
            if '::' in base:
                continue
            base = osp.normpath(osp.join(osp.dirname(current), base))
            if base not in seen:
                seen.add(base)
                todo.append(base)
    return seen


def build_config(path: str) -> Tuple[Optional[object], List[str]]:
    """Load ``path`` as ``tools/train.py`` does and lint it as
    ``tools/analysis/check_config.py`` does (keys, types, name against
    values). Returns the config (None if it does not load) and the
    problems."""
    from vtg_plugins.utils.config_lint import format_problems, lint_config
    from vtg_plugins.utils.config_name import check_config_name
    from vtg_plugins.utils.launch import load_config
    try:
        cfg = load_config(path, None)
        problems = lint_config(cfg)
    except Exception as err:  # noqa: BLE001  (report it, check the rest)
        return None, [f'cannot be loaded: {type(err).__name__}: {err}']
    found = [
        line.strip()
        for line in format_problems(problems, path, None).splitlines()
    ] if problems else []
    return cfg, found + check_config_name(cfg, path)


def _collection_problems(meta: Metafile, root: str) -> List[str]:
    problems = []
    for coll in meta.collections:
        name = coll.get('Name') or '<no Name>'
        where = f'{meta.path}: collection {name}'
        readme = coll.get('README')
        if not isinstance(readme, str) or \
                not osp.isfile(osp.join(root, readme)):
            problems.append(f'{where}: README {readme!r} is not a file')
        for key, subkeys in (('Paper', ('Title', 'URL')), ('Code', ('URL', ))):
            value = coll.get(key)
            if not isinstance(value, dict) or \
                    not all(value.get(k) for k in subkeys):
                problems.append(f'{where}: {key} needs {", ".join(subkeys)}')
    return problems


def _metadata_problems(meta: dict, config: str, cfg) -> List[str]:
    """The metadata against the config name and whether the config
    trains."""
    from vtg_plugins.utils.config_name import parse_config_name
    trains = bool(cfg.get('train_dataloader'))
    problems = []
    if trains and not meta.get('Training Data'):
        problems.append('Metadata has no Training Data')
    if not meta.get('Architecture'):
        problems.append('Metadata has no Architecture')
    fields = parse_config_name(config)
    if fields is None:
        return problems
    key, other = 'Training Resources', 'Test Resources'
    if not trains:
        key, other = other, key
    if other in meta:
        problems.append(f'Metadata has {other} but the config '
                        f'{"trains" if trains else "only tests"}: {key}')
    gpus = _GPUS.match(str(meta.get(key, '')))
    if not gpus or int(gpus.group(1)) != fields.gpus:
        problems.append(f'Metadata {key} is {meta.get(key)!r}, the name '
                        f'states {fields.gpus} GPU(s)')
    if meta.get('Batch Size') != fields.batch:
        problems.append(f'Metadata Batch Size is {meta.get("Batch Size")!r}'
                        f', the name states {fields.batch}')
    if fields.epochs is not None and meta.get('Epochs') != fields.epochs:
        problems.append(f'Metadata Epochs is {meta.get("Epochs")!r}, the '
                        f'name states {fields.epochs}')
    return problems


def _results_problems(results) -> List[str]:
    if not isinstance(results, list):
        return ['Results must be a list']
    problems = []
    for i, res in enumerate(results):
        metrics = res.get('Metrics') if isinstance(res, dict) else None
        if not isinstance(res, dict) or not res.get('Dataset') or \
                not res.get('Task') or not isinstance(metrics, dict) or \
                not metrics:
            problems.append(f'Results[{i}] needs Dataset, Task and Metrics')
            continue
        for metric, value in metrics.items():
            if isinstance(value, bool) or \
                    not isinstance(value, (int, float)):
                problems.append(f'Results[{i}] metric {metric!r} is '
                                f'{value!r}, not a number')
    return problems


def _weights_problems(name, stems: set,
                      checkpoint_dir: Optional[str]) -> List[str]:
    if not isinstance(name, str):
        return [f'Weights {name!r} is not a file name']
    parsed = parse_weights(name, stems)
    if parsed is None:
        return [
            f'Weights {name!r} is neither STEM.pth (converted, not '
            'published) nor STEM_YYYYMMDD-HHHHHHHH.pth (published: date and '
            'sha256[:8]) for the Name STEM of a model of the index'
        ]
    path = osp.join(checkpoint_dir or '', name)
    if parsed[1] and checkpoint_dir and osp.isfile(path):
        sha = sha256_of(path)
        if not sha.startswith(parsed[1]):
            return [
                f'Weights {name}: the sha256 of {path} starts with '
                f'{sha[:8]}, not {parsed[1]}'
            ]
    return []


def _flat(value) -> bool:
    """A metadata value ``mim search`` can show (a YAML ``key: value``
    typed into a list item is a mapping, which it cannot)."""
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, (str, int, float))


def _model_problems(index: ModelIndex, meta: Metafile, model: dict,
                    build: Callable, checkpoint_dir: Optional[str]) -> list:
    """Problems of one model entry (without its ``FILE: model NAME:``)."""
    problems = [
        f'has no {key}' for key in ('In Collection', 'Config', 'Metadata')
        if not model.get(key)
    ]
    if problems:
        return problems
    collections = {c.get('Name') for c in meta.collections}
    if model['In Collection'] not in collections:
        problems.append(f'In Collection {model["In Collection"]!r} is not a '
                        f'collection of {meta.path}')
    config, metadata = model['Config'], model['Metadata']
    if osp.splitext(osp.basename(str(config)))[0] != model['Name']:
        problems.append(f'Name must be the stem of its Config {config}')
    if not isinstance(metadata, dict):
        return problems + ['Metadata must be a mapping']
    problems += [
        f'Metadata {key} is {value!r}: mim reads a string, a number or a '
        'list of strings' for key, value in metadata.items()
        if not _flat(value)
    ]
    if osp.dirname(meta.path) != osp.dirname(str(config)):
        problems.append(f'Config {config} is not in {osp.dirname(meta.path)}'
                        '/, the folder of its metafile')
    variants = metadata.get(ENGINE_VARIANTS) or []
    if not isinstance(variants, list) or \
            not all(isinstance(v, str) for v in variants):
        problems.append(f'{ENGINE_VARIANTS} must be a list of configs')
        variants = []
    for path in [config] + variants:
        full = osp.join(index.root, str(path))
        if not osp.isfile(full):
            problems.append(f'config {path} does not exist')
            continue
        if is_demo_config(path):
            problems.append(f'config {path} is a tiny / synthetic demo: '
                            'only full configs belong in a model zoo')
        cfg, found = build(full)
        problems += [f'config {path} does not lint: {p}' for p in found]
        if path == config and cfg is not None:
            problems += _metadata_problems(metadata, config, cfg)
        elif path != config and osp.abspath(osp.join(
                index.root, config)) not in base_configs(full):
            problems.append(f'{ENGINE_VARIANTS} {path} does not inherit '
                            f'{config}')
    if 'Results' in model:
        problems += _results_problems(model['Results'])
    if 'Weights' in model:
        problems += _weights_problems(model['Weights'], index.names,
                                      checkpoint_dir)
    return problems


def _unpublished_comment_problems(meta: Metafile, stems: set) -> List[str]:
    """An unpublished ``Weights`` line needs a comment naming
    ``publish_model`` on the line before."""
    problems, model = [], '?'
    lines = meta.text.splitlines()
    for i, line in enumerate(lines):
        name = _NAME_LINE.match(line)
        model = name.group(1) if name else model
        weights = _WEIGHTS_LINE.match(line)
        parsed = weights and parse_weights(weights.group(1), stems)
        if parsed and not parsed[1]:
            before = lines[i - 1].strip() if i else ''
            if not (before.startswith('#') and 'publish_model' in before):
                problems.append(
                    f'{meta.path}: model {model}: Weights '
                    f'{weights.group(1)} has no hash yet: the line before '
                    'it must be a comment saying publish_model gives it one')
    return problems


def _coverage_problems(index: ModelIndex, configs_dir: str,
                       exclusions: Dict[str, str]) -> List[str]:
    """Every full config of a metafile's folder is a model or an engine
    variant (or excluded), every folder of ``configs_dir`` has a metafile
    (or is excluded)."""
    problems = [
        f'exclusion {path}: no such file or folder'
        for path in exclusions if not osp.exists(osp.join(index.root, path))
    ] + [
        f'exclusion {path}: gives no reason'
        for path, why in exclusions.items() if not str(why).strip()
    ]
    excluded = tuple(p.rstrip('/') for p in exclusions)

    def is_excluded(path):
        return any(path == e or path.startswith(e + '/') for e in excluded)

    covered: Dict[str, str] = {}
    for meta, model in index.models():
        metadata = model.get('Metadata')
        variants = metadata.get(ENGINE_VARIANTS) if isinstance(metadata,
                                                               dict) else None
        paths = [model.get('Config')] + \
            (variants if isinstance(variants, list) else [])
        for path in (p for p in paths if isinstance(p, str)):
            if path in covered:
                problems.append(f'{meta.path}: config {path} is in two '
                                f'models: {covered[path]}, '
                                f'{model.get("Name")}')
            covered[path] = model.get('Name')
    folders = {osp.dirname(m.path) for m in index.metafiles}
    for meta in index.metafiles:
        for path in entry_configs(index.root, osp.dirname(meta.path)):
            if path not in covered and not is_demo_config(path) and \
                    not is_excluded(path):
                problems.append(
                    f'{meta.path}: {path} is in no model: add it as a '
                    f'model, to the {ENGINE_VARIANTS} of the model it '
                    'trains on another engine, or to the exclusions with '
                    'its reason')
    for folder in sorted(glob.glob(osp.join(index.root, configs_dir, '*'))):
        rel = osp.relpath(folder, index.root)
        if osp.basename(folder) != '_base_' and osp.isdir(folder) and \
                rel not in folders and not is_excluded(rel) and \
                entry_configs(index.root, rel):
            problems.append(f'{rel}: has configs but no metafile.yml '
                            f'imported by {INDEX_FILE}')
    return problems


def check_model_index(root: str,
                      exclusions: Optional[Dict[str, str]] = None,
                      checkpoint_dir: Optional[str] = None,
                      configs_dir: str = 'configs') -> List[str]:
    """Every problem of the model zoo of ``root`` (empty: none).

    Args:
        root: the folder of ``model-index.yml``.
        exclusions: configs or folders (relative to ``root``) that belong
            in no metafile, each with its reason.
        checkpoint_dir: where published checkpoints may lie: a present one
            must have the hash its name states.
        configs_dir: the folder whose sub-folders are the methods.
    """
    try:
        index = load_model_index(root)
    except ModelZooError as e:
        return [str(e)]
    build = functools.lru_cache(maxsize=None)(build_config)
    problems = [
        f'{INDEX_FILE}: imports {p}, which does not exist'
        for p in index.missing
    ]
    on_disk = glob.glob(osp.join(root, configs_dir, '*', 'metafile.yml'))
    problems += [
        f'{rel}: not imported by {INDEX_FILE}' for rel in sorted(
            osp.relpath(p, root) for p in on_disk) if rel not in index.imports
    ]
    seen: Dict[str, str] = {}
    for meta in index.metafiles:
        problems += _collection_problems(meta, root)
        problems += _unpublished_comment_problems(meta, index.names)
        for model in meta.models:
            name = model.get('Name')
            if not name:
                problems.append(f'{meta.path}: a model has no Name')
                continue
            if name in seen:
                problems.append(f'{meta.path}: model {name}: also in '
                                f'{seen[name]}')
            seen[name] = meta.path
            problems += [
                f'{meta.path}: model {name}: {p}' for p in _model_problems(
                    index, meta, model, build, checkpoint_dir)
            ]
    problems += _coverage_problems(index, configs_dir, exclusions or {})
    return problems
