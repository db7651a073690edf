"""Which keys a config dict may give the class (or function) it builds.

Used by :mod:`vtg_plugins.utils.config_lint`. A dict ``dict(type=T, **args)``
is built as ``T(**args)``, so its valid keys are ``T``'s named parameters.
A constructor with ``**kwargs`` that hands them to its parent class
(``super().__init__(..., **kwargs)``) takes the parent's parameters too,
followed along the MRO; ``**kwargs`` that go anywhere else could be
anything, so every key is accepted (:data:`KWARGS_TARGETS` names the few
MMEngine classes whose ``**kwargs`` are known to reach one function).
"""
import ast
import difflib
import functools
import inspect
import textwrap
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
          inspect.Parameter.KEYWORD_ONLY)


def close_names(word: str, names: Iterable[str], n: int = 3) -> List[str]:
    """The valid names closest to a misspelt ``word`` (difflib)."""
    return difflib.get_close_matches(word, sorted(set(names)), n=n, cutoff=0.6)


def refuse_unknown_keys(name: str, cfg: dict, valid: Iterable[str]) -> None:
    """For a class reading a dict argument itself (a model's ``test_cfg``).

    Raises:
        ValueError: naming the keys of ``cfg`` not in ``valid``, the closest
            valid names and all of them.
    """
    valid = sorted(set(valid))
    unknown = sorted(set(cfg) - set(valid))
    if unknown:
        close = sorted({c for key in unknown for c in close_names(key, valid)})
        hint = f'; did you mean {close}?' if close else ''
        raise ValueError(f'unknown {name} keys {unknown}{hint} '
                         f'(valid: {valid})')


def _signature(func: Callable) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature
        return None


def _is_parent_init(call: ast.Call) -> bool:
    """``super().__init__(...)``, ``super(C, self).__init__(...)`` or
    ``Base.__init__(self, ...)`` (``mod.Base`` too)."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == '__init__'):
        return False
    owner = func.value
    if isinstance(owner, ast.Call):
        return isinstance(owner.func, ast.Name) and owner.func.id == 'super'
    while isinstance(owner, ast.Attribute):
        owner = owner.value
    return isinstance(owner, ast.Name) and owner.id != 'self'


def _kwargs_go_to_parent(init: Callable, kwargs_name: str) -> bool:
    """Whether ``init`` calls its parent's ``__init__`` with
    ``**kwargs_name``."""
    try:
        source = textwrap.dedent(inspect.getsource(inspect.unwrap(init)))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return False
    return any(
        isinstance(node, ast.Call) and _is_parent_init(node) and any(
            kw.arg is None and isinstance(kw.value, ast.Name)
            and kw.value.id == kwargs_name for kw in node.keywords)
        for node in ast.walk(tree))


@functools.lru_cache(maxsize=None)
def accepted_keys(obj: Callable) -> Optional[FrozenSet[str]]:
    """The keyword arguments ``obj(**args)`` accepts, or None for any.

    A class: the named parameters of its ``__init__``, and, while an
    ``__init__`` passes its ``**kwargs`` to the parent class, those of the
    next ``__init__`` along the MRO. A function: its named parameters.
    """
    if not inspect.isclass(obj):
        sig = _signature(obj)
        if sig is None or any(p.kind is inspect.Parameter.VAR_KEYWORD
                              for p in sig.parameters.values()):
            return None
        return frozenset(p.name for p in sig.parameters.values()
                         if p.kind in _NAMED)
    names = set()
    for klass in obj.__mro__:
        if klass is object:
            break
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        sig = _signature(init)
        if sig is None:
            return None
        params = list(sig.parameters.values())[1:]  # self
        names.update(p.name for p in params if p.kind in _NAMED)
        var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
        if not var_kw:
            break
        if not _kwargs_go_to_parent(init, var_kw[0].name):
            target = _kwargs_target(klass)
            if target is None:
                return None
            names.update(target)
            break
    return frozenset(names)


def named_parameters(
    func: Callable, exclude: Iterable[str] = ()) -> FrozenSet[str]:
    """Named parameters of ``func`` minus ``exclude`` (empty when the
    signature cannot be read)."""
    sig = _signature(func)
    if sig is None:
        return frozenset()
    return frozenset(p.name for p in sig.parameters.values()
                     if p.kind in _NAMED) - set(exclude)


def _checkpoint_hook_target() -> FrozenSet[str]:
    # CheckpointHook keeps its **kwargs and passes them to
    # runner.save_checkpoint after the first interval, next to these
    from mmengine.runner import Runner
    return named_parameters(
        Runner.save_checkpoint,
        exclude=('self', 'out_dir', 'filename', 'file_client_args',
                 'save_optimizer', 'save_param_scheduler', 'meta', 'by_epoch',
                 'backend_args'))


def _kwargs_target(klass: type) -> Optional[FrozenSet[str]]:
    """Extra keys of a class whose ``**kwargs`` reach a known function."""
    for path, target in KWARGS_TARGETS.items():
        module, _, name = path.rpartition('.')
        if klass.__module__.startswith(module) and klass.__name__ == name:
            return target()
    return None


# '<module prefix>.<class name>' -> the keys its **kwargs may hold. EMAHook's
# **kwargs build its `ema_type` class: config_lint checks them there.
KWARGS_TARGETS: Dict[str, Callable[[], Optional[FrozenSet[str]]]] = {
    'mmengine.hooks.CheckpointHook': _checkpoint_hook_target,
}
