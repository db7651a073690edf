"""The reproducibility card of a training run: a plain JSON-able dict of
the method, the config and its hash, the batch (GPUs x per GPU x
accumulation) against the ``{gpus}xb{batch}`` of the config name, the lr
before and after MMEngine's ``auto_scale_lr``, the seed, the splits, the
feature recipes and their hash, engine and precision, the code version and
the versions of the stack.

:class:`~vtg_plugins.engine.ReproducibilityCardHook` prints it, writes it to
``{work_dir}/repro_card.json`` and into every checkpoint's
``meta['repro_card']``; ``tools/test.py`` prints a checkpoint's card and
warns where the test config's recipes differ (:func:`compare_recipes`).
The config hash is the SHA-256 of ``cfg.pretty_text`` of the run's config
(command-line changes included): the text MMEngine dumps into the work dir
and saves as ``meta['cfg']``, so ``sha256sum work_dir/<config>.py`` agrees.
"""
import datetime
import hashlib
import json
import math
from typing import Iterator, List, Optional

from vtg_plugins.features.recipe import query_store_recipe, recipe_differences
from .config_name import parse_config_name
from .env import code_version, stack_versions
from .projects import list_projects

#: key of the card in a checkpoint's ``meta``; its file in the work dir
CARD_KEY = 'repro_card'
CARD_FILE = 'repro_card.json'
#: what a split's entry keeps of each dataset config
SPLIT_KEYS = ('type', 'data_root', 'ann_file', 'ann_format', 'data_prefix',
              'split')
STORE_KEYS = ('video_store', 'query_store')


def plain(obj):
    """``obj`` as JSON values (a ConfigDict as a dict, a tuple as a list, a
    class by its name, anything else unknown by ``str``)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return obj.__name__ if isinstance(obj, type) else str(obj)


def sha256_json(obj) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def config_sha256(cfg) -> str:
    """SHA-256 of the config's resolved text, ``cfg.pretty_text``."""
    return hashlib.sha256(cfg.pretty_text.encode('utf-8')).hexdigest()


def _method(cfg) -> dict:
    """The project a config runs (the first of its ``custom_imports``, else
    the module of its model class, that is an installed project's) and
    its model type."""
    kind = (cfg.get('model') or {}).get('type')
    module = kind.__module__ if isinstance(kind, type) else None
    if isinstance(kind, str):
        from vtg_plugins.registry import MODELS
        module = getattr(MODELS.get(kind), '__module__', None)
    imports = (cfg.get('custom_imports') or {}).get('imports') or []
    names = [imports] if isinstance(imports, str) else list(imports)
    out = dict(project=None, package=module, version=None, model=plain(kind))
    projects = list_projects().items()
    for name in names + ([module] if module else []):
        for project, info in projects:
            if name == info['module'] or name.startswith(info['module'] + '.'):
                return dict(
                    out,
                    project=project,
                    package=info['module'],
                    version=info['version'])
    return out


def _deepspeed_config(runner) -> Optional[dict]:
    strategy = getattr(runner, 'strategy', None)
    is_deepspeed = type(strategy).__name__ == 'DeepSpeedStrategy'
    return strategy.config if is_deepspeed else None


def _batch(runner, cfg) -> dict:
    """World size, per-GPU batch, accumulation (``optim_wrapper.
    accumulative_counts``, or DeepSpeed's ``gradient_accumulation_steps``
    where the strategy took it over) and the global batch, against the
    ``{gpus}xb{batch}`` of the config name."""
    loader = runner.train_dataloader
    # a batch sampler that makes the batches itself (TSTL's class-balanced
    # one) leaves the loader's batch_size None
    per_gpu = loader.batch_size or getattr(loader.batch_sampler, 'batch_size',
                                           None)
    world = runner.world_size
    deepspeed = _deepspeed_config(runner)
    if deepspeed is not None:
        accumulation = deepspeed.get('gradient_accumulation_steps') or 1
        source = 'strategy.gradient_accumulation_steps'
    else:
        wrapper = cfg.get('optim_wrapper') or {}
        accumulation = wrapper.get('accumulative_counts') or 1
        source = 'optim_wrapper.accumulative_counts'
    batch = dict(
        world_size=world,
        per_gpu=per_gpu,
        accumulation=accumulation,
        accumulation_from=source,
        global_batch=None if per_gpu is None else world * per_gpu *
        accumulation)
    named = parse_config_name(cfg.filename or '')
    if named is not None:
        batch['name'] = dict(
            field=f'{named.gpus}xb{named.batch}',
            matches=(named.gpus, named.batch) == (world, per_gpu))
    return batch


def _optimizer_lrs(optim_wrapper) -> Optional[List[float]]:
    """The distinct lrs the built optimizer's parameter groups started at
    (``initial_lr``, set by the schedulers, else ``lr``); None unbuilt."""
    if optim_wrapper is None or isinstance(optim_wrapper, dict):
        return None
    from mmengine.optim import OptimWrapperDict
    wrappers = list(optim_wrapper.values()) if isinstance(
        optim_wrapper, OptimWrapperDict) else [optim_wrapper]
    return sorted({
        float(group.get('initial_lr', group['lr']))
        for wrapper in wrappers
        for group in wrapper.optimizer.param_groups
    })


def _lr(runner, cfg, batch: dict) -> dict:
    """The config's lr, scaled by MMEngine's rule (``Runner.scale_lr``:
    times world size x per-GPU batch / ``auto_scale_lr.base_batch_size``,
    accumulation not counted), and the lrs the optimizer holds."""
    base = ((cfg.get('optim_wrapper') or {}).get('optimizer') or {}).get('lr')
    scale = cfg.get('auto_scale_lr') or {}
    enabled = bool(scale.get('enable', False))
    ratio = batch['world_size'] * (batch['per_gpu'] or 0) / \
        scale['base_batch_size'] if enabled else 1.0
    return dict(
        base=base,
        auto_scale_lr=dict(
            enable=enabled,
            base_batch_size=scale.get('base_batch_size'),
            ratio=ratio),
        scaled=None if base is None else base * ratio,
        optimizer=_optimizer_lrs(runner.optim_wrapper))


def lr_warnings(lr: dict) -> List[str]:
    """The scaled lr the config asks for where no parameter group has it:
    an engine that ignores ``auto_scale_lr``."""
    groups, scaled = lr['optimizer'], lr['scaled']
    if not lr['auto_scale_lr']['enable'] or not groups or scaled is None or \
            any(math.isclose(g, scaled, rel_tol=1e-6) for g in groups):
        return []
    return [
        f'auto_scale_lr asks for lr {scaled:g} ({lr["base"]:g} x '
        f'{lr["auto_scale_lr"]["ratio"]:g}) but the optimizer\'s parameter '
        f'groups start at {groups}: the engine did not scale the lr'
    ]


def _leaf_cfgs(dataset) -> Iterator[dict]:
    """The dataset configs under wrappers (``dataset`` / ``datasets``)."""
    if not isinstance(dataset, dict):
        return
    inner = dataset.get('datasets')
    if isinstance(inner, (list, tuple)):
        for one in inner:
            yield from _leaf_cfgs(one)
    elif isinstance(dataset.get('dataset'), dict):
        yield from _leaf_cfgs(dataset['dataset'])
    else:
        yield dataset


def _split(loader) -> Optional[List[dict]]:
    """Per dataset of a loader config: what names its split (type, data
    root, annotation file, ...) and the roots of its feature stores."""
    if not loader:
        return None
    out = []
    for leaf in _leaf_cfgs(loader.get('dataset')):
        entry = {k: plain(leaf[k]) for k in SPLIT_KEYS if leaf.get(k)}
        entry.update({
            k: plain(leaf[k].get('root'))
            for k in STORE_KEYS if isinstance(leaf.get(k), dict)
        })
        out.append(entry)
    return out


def _built_leaves(dataset) -> Iterator:
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        for one in inner:
            yield from _built_leaves(one)
    elif getattr(dataset, 'dataset', None) is not None:
        yield from _built_leaves(dataset.dataset)
    else:
        yield dataset


def _store_recipe(store, stated: Optional[dict]) -> Optional[dict]:
    """A store's ``meta.json``, else the recipe its config states."""
    if store.meta:
        recipe, source = plain(store.meta), f'{store.root}/meta.json'
    elif stated:
        recipe = plain(stated)
        source = f'the config ({store.root} has no meta.json)'
    else:
        return None
    return dict(recipe=recipe, sha256=sha256_json(recipe), source=source)


def feature_recipes(dataset) -> dict:
    """``{'video': {'recipe', 'sha256', 'source'}, 'query': ...}`` of the
    first dataset (under wrappers) that reads a feature store; empty for
    data read otherwise (videos, a method's own files)."""
    for leaf in _built_leaves(dataset):
        store = getattr(leaf, 'video_store', None)
        if store is None:
            continue
        recipe = getattr(leaf, 'recipe', None)
        query = getattr(leaf, 'query_recipe', None)
        found = dict(video=_store_recipe(store, recipe))
        if getattr(leaf, 'query_store', None) is not None:
            stated = query_store_recipe(recipe, query) if (recipe
                                                           or query) else None
            found['query'] = _store_recipe(leaf.query_store, stated)
        return {k: v for k, v in found.items() if v is not None}
    return {}


def _precision(cfg, deepspeed: Optional[dict]) -> str:
    if deepspeed is not None:
        bf16 = (deepspeed.get('bf16') or {}).get('enabled', False)
        fp16 = (deepspeed.get('fp16') or {}).get('enabled', False)
        return 'bf16' if bf16 else 'fp16' if fp16 else 'fp32'
    wrapper = cfg.get('optim_wrapper') or {}
    kind = plain(wrapper.get('type')) or 'OptimWrapper'
    precision = 'bf16 autocast' if 'BF16' in kind else \
        f'amp {wrapper.get("dtype") or "float16"}' if 'Amp' in kind else \
        'fp32'
    mixed = ((cfg.get('strategy') or {}).get('model_wrapper')
             or {}).get('mixed_precision')
    return precision + (f', FSDP mixed precision {plain(mixed)}'
                        if mixed else '')


def _engine(runner, cfg) -> dict:
    strategy = getattr(runner, 'strategy', None)
    deepspeed = _deepspeed_config(runner)
    engine = dict(
        runner=type(runner).__name__,
        strategy=type(strategy).__name__ if strategy is not None else
        'DDP' if runner.world_size > 1 else 'single process',
        launcher=cfg.get('launcher', 'none'),
        optim_wrapper=plain((cfg.get('optim_wrapper') or {}).get('type')),
        precision=_precision(cfg, deepspeed))
    if deepspeed is not None:
        engine['zero_stage'] = (deepspeed.get('zero_optimization')
                                or {}).get('stage', 0)
    return engine


def build_card(runner) -> dict:
    """The card of a ``Runner`` / ``FlexibleRunner`` whose training has
    started (optimizer and train loader built), from ``runner.cfg``."""
    cfg = runner.cfg
    method = _method(cfg)
    batch = _batch(runner, cfg)
    lr = _lr(runner, cfg, batch)
    recipes = feature_recipes(runner.train_dataloader.dataset)
    randomness = cfg.get('randomness') or {}
    return dict(
        method=method,
        config=dict(
            file=cfg.filename,
            sha256=config_sha256(cfg),
            hashed='cfg.pretty_text, the config dumped in the work dir'),
        batch=batch,
        lr=lr,
        randomness=dict(
            seed=runner.seed,
            deterministic=bool(randomness.get('deterministic', False)),
            diff_rank_seed=bool(randomness.get('diff_rank_seed', False))),
        splits={
            split: _split(cfg.get(f'{split}_dataloader'))
            for split in ('train', 'val', 'test')
        },
        feature_recipes=recipes,
        feature_recipes_sha256=sha256_json({
            k: v['recipe']
            for k, v in recipes.items()
        }) if recipes else None,
        load_from=cfg.get('load_from'),
        resume=bool(cfg.get('resume', False)),
        engine=_engine(runner, cfg),
        code=code_version(None if method['project'] is None else
                          f'{method["package"]} {method["version"]}'),
        stack=stack_versions(),
        date=datetime.datetime.now(
            datetime.timezone.utc).isoformat(timespec='seconds'),
        warnings=lr_warnings(lr))


def _summary(card: dict) -> List[tuple]:
    """Rows that spell out the batch, lr and engine fields."""
    batch, lr, engine = card['batch'], card['lr'], card['engine']
    scale, name = lr['auto_scale_lr'], batch.get('name')
    rows = [('global batch', f'{batch["world_size"]} GPU(s) x '
             f'{batch["per_gpu"]} x {batch["accumulation"]} accumulated = '
             f'{batch["global_batch"]}')]
    if name is not None:
        verdict = 'matches' if name['matches'] else 'does NOT match'
        rows.append(('config name', f'{name["field"]}: {verdict} the run'))
    rule = f'auto_scale_lr x {scale["ratio"]:g}, base batch ' \
        f'{scale["base_batch_size"]}' if scale['enable'] else \
        'auto_scale_lr off'
    rows.append(('lr rule', f'{lr["base"]} -> {lr["scaled"]} ({rule}); the '
                 f'optimizer groups start at {lr["optimizer"]}'))
    stage = f' ZeRO-{engine["zero_stage"]}' if 'zero_stage' in engine else ''
    rows.append(('runs on', f'{engine["runner"]}, {engine["strategy"]}'
                 f'{stage}, {engine["precision"]}'))
    return rows


def format_card(card: dict) -> str:
    """The card as text: a summary of batch, lr and engine, then every
    field (compact JSON), then its warnings."""
    lines = ['Reproducibility card']
    rows = _summary(card) + [(k, json.dumps(v, sort_keys=True))
                             for k, v in card.items() if k != 'warnings']
    lines += [f'  {key + ":":24}{value}' for key, value in rows]
    lines += [f'  WARNING: {w}' for w in card.get('warnings') or []]
    return '\n'.join(lines)


def card_of_checkpoint(meta: dict) -> Optional[dict]:
    """The card of a checkpoint's ``meta``; for one saved without a card
    but with ``meta['feature_recipe']`` (``FeatureRecipeHook``), a
    ``partial`` card of that video recipe; None for neither (e.g. a
    converted official checkpoint)."""
    if meta.get(CARD_KEY):
        return meta[CARD_KEY]
    recipe = meta.get('feature_recipe')
    if not recipe:
        return None
    return dict(
        partial=True,
        feature_recipes=dict(
            video=dict(recipe=recipe, source="meta['feature_recipe']")))


def _stated_recipes(dataset: dict) -> dict:
    """The recipes a dataset config states, named as in the card."""
    recipe, query = dataset.get('recipe'), dataset.get('query_recipe')
    out = dict(video=plain(recipe)) if recipe else {}
    if dataset.get('query_store') and (recipe or query):
        out['query'] = plain(query_store_recipe(recipe, query))
    return out


def compare_recipes(card: dict, cfg, split: str = 'test') -> List[str]:
    """Where the recipes the ``split`` datasets of ``cfg`` state differ from
    the card's (each key the config states; numbers with a relative
    tolerance of 1e-6), and recipes one side has and the other lacks."""
    trained = card.get('feature_recipes') or {}
    loader = cfg.get(f'{split}_dataloader') or {}
    leaves = [
        leaf for leaf in _leaf_cfgs(loader.get('dataset'))
        if leaf.get('video_store')
    ]
    diffs = []
    for leaf in leaves:
        where = f'{split} dataset {leaf.get("ann_file") or leaf.get("type")}'
        stated = _stated_recipes(leaf)
        for modality in sorted(set(trained) | set(stated)):
            have = (trained.get(modality) or {}).get('recipe')
            want = stated.get(modality)
            if want is None:
                diffs.append(
                    f'{where}: the config states no {modality} recipe, so '
                    'its features are not checked against the one trained '
                    f'on: {json.dumps(have, sort_keys=True)}')
            elif have is None:
                diffs.append(f'{where}: the checkpoint records no {modality} '
                             f'recipe to check {want} against')
            else:
                diffs += [
                    f'{where}: {modality} recipe {key}: trained on '
                    f'{have.get(key, "<absent>")!r}, the config states '
                    f'{want[key]!r}' for key in want
                    if recipe_differences(have, {key: want[key]})
                ]
    return diffs
