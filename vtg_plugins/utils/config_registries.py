"""Type names of a config resolved the way the Runner resolves them.

MMEngine's root registries (``mmengine.registry.MODELS``, ...) are switched
to the config's ``default_scope`` (for ``'vtg_plugins'`` our children of
MMAction2's registries, whose parents are MMAction2's and MMEngine's), so
``'AdamW'``, ``'CheckpointHook'`` and ``'mmaction.Recognizer3D'`` resolve as
in training. The registries of our own (feature stores, ...) have no
MMEngine root and are looked up directly.
"""
import contextlib
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.registry import DefaultScope, Registry

# MMEngine root registries, in the order a type of unknown place is looked
# up (the first one that has it builds it)
ROOT_REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'DATA_SAMPLERS',
                   'FUNCTIONS', 'METRICS', 'EVALUATOR', 'HOOKS', 'LOOPS',
                   'OPTIMIZERS', 'OPTIM_WRAPPERS',
                   'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
                   'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
                   'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'STRATEGIES',
                   'RUNNERS', 'TASK_UTILS', 'INFERENCERS')


def _own_registries() -> Dict[str, Registry]:
    """vtg_plugins' registries without an MMEngine parent, by name."""
    from vtg_plugins import registry
    return {
        name: reg
        for name, reg in vars(registry).items()
        if isinstance(reg, Registry) and reg.parent is None
    }


def _names(reg: Registry) -> List[str]:
    names = []
    while reg is not None:
        names.extend(reg.module_dict)
        reg = reg.parent
    return names


class RegistryLookup:
    """Registries of one ``default_scope``; ``resolve`` a type in one,
    ``find`` the registry that has a type."""

    def __init__(self, scope: str):
        self.scope_name = scope
        self._registries: Dict[str, Registry] = {}

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The config's default scope, as the Runner sets it."""
        with DefaultScope.overwrite_default_scope(self.scope_name):
            yield

    def registry(self, name: str) -> Registry:
        if name not in self._registries:
            own = _own_registries()
            if name in own:
                self._registries[name] = own[name]
            else:
                import mmengine.registry as roots
                root = getattr(roots, name)
                # no child of that scope: the root, as in
                # switch_scope_and_registry (without its warning); a child
                # whose lazy imports have not run yet is empty, hence falsy
                child = root._search_child(self.scope_name)
                self._registries[name] = root if child is None else child
        return self._registries[name]

    def all_names(self) -> Tuple[str, ...]:
        return ROOT_REGISTRIES + tuple(sorted(_own_registries()))

    def resolve(self, name: str, type_) -> Tuple[Optional[object], List[str]]:
        """``(class or function, [])``, or ``(None, known type names)``."""
        if not isinstance(type_, str):
            return (type_, []) if callable(type_) else (None, [])
        reg = self.registry(name)
        try:
            obj = reg.get(type_)
        except Exception:  # noqa: BLE001  (bad scope prefix, failed import)
            obj = None
        return (obj, []) if obj is not None else (None, _names(reg))

    def find(self, type_, prefer: Optional[str] = None) -> Optional[str]:
        """The first registry (``prefer`` first) that has ``type_``."""
        if not isinstance(type_, str):
            return None
        order = ([prefer] if prefer else
                 []) + [n for n in self.all_names() if n != prefer]
        for name in order:
            if self.resolve(name, type_)[0] is not None:
                return name
        return None
