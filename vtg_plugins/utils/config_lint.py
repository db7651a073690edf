"""Lint a merged config: every key must be one its consumer reads.

MMEngine passes each config dict to the class (or function) it builds, and a
misspelt key there is either a crash long after the start (``default_hooks.
checkpoint.intervl`` reaches ``save_checkpoint`` after an epoch; ``train_cfg.
max_epoch`` fails inside the train loop) or silently ignored. The lint walks
the whole config the way the ``Runner`` reads it:

- a dict with a ``type`` is checked against the registered class's
  constructor (:func:`~vtg_plugins.utils.config_keys.accepted_keys`); the
  registry is the one of its place (``model`` -> ``MODELS``, ``pipeline`` ->
  ``TRANSFORMS``, ...), resolved through the config's ``default_scope``; a
  typed dict in a place the Runner does not read (a method's argument, a
  top-level variable) is checked when its type is registered anywhere;
- the Runner's type-less dicts are checked against what reads them:
  ``train_cfg`` / ``val_cfg`` / ``test_cfg`` (the loop class the Runner
  builds), ``optim_wrapper`` (its type, default ``OptimWrapper``, with
  ``optimizer``, ``clip_grad``, ``paramwise_cfg``), the dataloaders,
  ``env_cfg``, ``default_hooks`` entries, ``randomness``, ``auto_scale_lr``,
  ``custom_imports``;
- a registered class may define a classmethod ``validate_args(args: dict)``
  raising ``ValueError`` / ``KeyError`` for what the signature cannot say
  (R²-Tuning's and GroundNLQ's ``test_cfg`` keys).

Every problem names the key path (``a.b.0.c``, as ``--cfg-options`` writes
it), what is wrong and the closest valid names, and where the key came from:
``--cfg-options`` or the config files that spell it.
"""
import re
from typing import Iterable, List, Optional

from mmengine.config import Config

from .config_keys import accepted_keys, named_parameters
from .config_registries import RegistryLookup
from .config_report import (ConfigProblem, format_problems, hint, join_path,
                            key_needle)
from .config_slots import RunnerSlots

# keys whose (typed) values are built by one registry wherever they appear
KEY_REGISTRIES = {
    'pipeline': 'TRANSFORMS',
    'transforms': 'TRANSFORMS',
    'dataset': 'DATASETS',
    'datasets': 'DATASETS',
    'sampler': 'DATA_SAMPLERS',
    'batch_sampler': 'DATA_SAMPLERS',
    'collate_fn': 'FUNCTIONS',
    'worker_init_fn': 'FUNCTIONS',
    'init_cfg': 'WEIGHT_INITIALIZERS',
    'data_preprocessor': 'MODELS',
    'optimizer': 'OPTIMIZERS',
    'metrics': 'METRICS',
    'vis_backends': 'VISBACKENDS',
}
# keys a registry's build function (not the constructor) consumes
BUILD_KEYS = {
    'PARAM_SCHEDULERS': {'convert_to_iter_based'},
    'HOOKS': {'priority'},
    'WEIGHT_INITIALIZERS': {'override'},
}


class ConfigLintError(KeyError):
    """Unknown keys or types in a config (a KeyError, like the Runner's)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _type_name(obj) -> str:
    """A class's or function's name, for messages."""
    return getattr(obj, '__name__', repr(obj))


class _Linter(RunnerSlots):
    """Walks a config dict and collects :class:`ConfigProblem`."""

    def __init__(self, lookup: RegistryLookup):
        self.lookup = lookup
        self.problems: List[ConfigProblem] = []
        self.runner_slots = self.slots()

    # -- reporting -----------------------------------------------------
    def problem(self, path: str, message: str, needle=None) -> None:
        self.problems.append(ConfigProblem(path, message, needle))

    def keys(self, node, path: str, valid: Iterable[str], owner: str) -> None:
        """Report the keys of ``node`` that are not in ``valid``."""
        if not isinstance(node, dict):
            return
        valid = set(valid)
        for key in node:
            if key not in valid:
                self.problem(
                    join_path(path, key),
                    f'{owner} takes no argument {key!r}; '
                    f'{hint(key, valid)}', key_needle(key))

    # -- generic walk --------------------------------------------------
    def config(self, cfg: dict) -> None:
        for key, value in cfg.items():
            if key in self.runner_slots and value is not None:
                self.runner_slots[key](value, key)
        # then the other top-level variables (`train_pipeline`, stores,
        # `tensorboard_backend`), but not again what their copies in the
        # Runner's parts were refused for
        seen = {p.message for p in self.problems}
        before = len(self.problems)
        for key, value in cfg.items():
            if key not in self.runner_slots:
                self.loose(value, key, None)
        self.problems[before:] = [
            p for p in self.problems[before:] if p.message not in seen
        ]

    def component(self,
                  node,
                  path: str,
                  registry: str,
                  default_type=None,
                  extra: Iterable[str] = ()) -> None:
        """A dict the ``registry`` builds: its type and its keys."""
        if not isinstance(node, dict):
            return  # an object, or None
        type_ = node.get('type', default_type)
        if type_ is None:
            label = self.lookup.registry(registry).name
            self.problem(path, f'has no `type` (a {label} entry)')
            return
        where = join_path(path, 'type') if 'type' in node else path
        obj = self.resolve(registry, type_, where)
        if obj is None:
            self.children(node, path, registry)
            return
        valid = self.valid_keys(obj, node, path)
        if valid is not None:
            valid = set(valid) | {'type', '_scope_'} | set(extra) | \
                BUILD_KEYS.get(registry, set())
            self.keys(node, path, valid, _type_name(obj))
        self.validate_args(obj, node, path)
        if registry == 'WEIGHT_INITIALIZERS' and isinstance(
                node.get('override'), dict):
            self.component(
                node['override'],
                join_path(path, 'override'),
                registry,
                default_type=type_,
                extra={'name'})
        self.children(node, path, registry, skip=('override', ))

    def valid_keys(self, obj, node: dict, path: str):
        """:func:`accepted_keys`; for ``EMAHook`` (whose ``**kwargs`` build
        its ``ema_type``) its own and the EMA model's."""
        keys = accepted_keys(obj)
        from mmengine.hooks import EMAHook
        if keys is not None or not (isinstance(obj, type)
                                    and issubclass(obj, EMAHook)):
            return keys
        ema = self.resolve('MODELS',
                           node.get('ema_type', 'ExponentialMovingAverage'),
                           join_path(path, 'ema_type'))
        ema_keys = accepted_keys(ema) if ema is not None else None
        if ema_keys is None:
            return None
        own = set()
        for klass in obj.__mro__[:obj.__mro__.index(EMAHook) + 1]:
            if '__init__' in klass.__dict__:
                own |= named_parameters(klass.__init__, ('self', ))
        return own | (ema_keys - {'model'})

    def resolve(self, registry: str, type_, path: str):
        obj, known = self.lookup.resolve(registry, type_)
        if obj is None:
            label = self.lookup.registry(registry).name
            self.problem(
                path, f'unknown {label} type {type_!r}; '
                f'{hint(str(type_), known)}',
                rf'[\'"]{re.escape(str(type_))}[\'"]')
        return obj

    def validate_args(self, obj, node: dict, path: str) -> None:
        validate = getattr(obj, 'validate_args', None)
        if not callable(validate):
            return
        args = {k: v for k, v in node.items() if k not in ('type', '_scope_')}
        try:
            validate(args)
        except (ValueError, KeyError, TypeError) as err:
            msg = err.args[0] if err.args else repr(err)
            self.problem(path, f'{_type_name(obj)}: {msg}')

    def each(self, node, path: str, registry: str) -> None:
        """One dict or a list of dicts, each built by ``registry``."""
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                self.component(item, join_path(path, i), registry)
        else:
            self.component(node, path, registry)

    def children(self,
                 node: dict,
                 path: str,
                 registry: Optional[str],
                 skip: Iterable[str] = ()) -> None:
        for key, value in node.items():
            if key in ('type', '_scope_') or key in skip:
                continue
            if key in KEY_REGISTRIES and value is not None:
                self.each(value, join_path(path, key), KEY_REGISTRIES[key])
            else:
                self.loose(value, join_path(path, key), registry)

    def loose(self, value, path: str, registry: Optional[str]) -> None:
        """A value no builder is known for: a typed dict is checked when
        its type is registered (first in ``registry``), else walked."""
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self.loose(item, join_path(path, i), registry)
        elif isinstance(value, dict):
            found = self.lookup.find(value.get('type'), registry)
            if found is not None:
                self.component(value, path, found)
            else:
                self.children(value, path, registry)


def lint_config(cfg: Config) -> List[ConfigProblem]:
    """Every unknown key and type of the merged config ``cfg``.

    Imports ``cfg.custom_imports`` (as the Runner does) and resolves types
    through ``cfg.default_scope`` (default ``'mmengine'``).
    """
    # what building the Runner registers: loops, hooks, optimizers and
    # their wrappers, schedulers, metrics, visualizers, samplers, collates
    import mmengine.runner  # noqa: F401
    cfg_dict = cfg._cfg_dict.to_dict() if isinstance(cfg, Config) else cfg
    imports = cfg_dict.get('custom_imports')
    if isinstance(imports, dict) and imports.get('imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**imports)
    lookup = RegistryLookup(cfg_dict.get('default_scope') or 'mmengine')
    linter = _Linter(lookup)
    with lookup.scope():
        linter.config(cfg_dict)
    return linter.problems


def check_config(cfg: Config,
                 config_path: str,
                 options: Optional[dict] = None,
                 footer: str = '') -> None:
    """Raise :class:`ConfigLintError` naming ``config_path`` and every
    problem of :func:`lint_config`; ``footer`` ends the message."""
    problems = lint_config(cfg)
    if problems:
        raise ConfigLintError(
            f'{config_path}: {len(problems)} config problem(s):\n'
            f'{format_problems(problems, config_path, options)}'
            f'{footer}')
