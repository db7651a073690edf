"""Import hooks that let a fix wait for the module it fixes.

Two kinds, so that installing every fix imports nothing heavy:

* :func:`after_import` runs ``fix(module)`` right after a module is first
  executed (or at once, when it already is);
* :func:`placeholder_if_missing` supplies a stand-in module when an import
  of a module that an upstream package forgot to ship finds nothing else.
"""
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Callable, Dict, List, Tuple

Fix = Callable[[ModuleType], None]

# Both finders follow the ``sys.meta_path`` protocol (``find_spec``; the
# loader's ``create_module``/``exec_module``) without importlib.abc's base
# classes, whose import pulls in importlib.resources, tempfile and shutil.


class _AfterImportFinder:
    """First on ``sys.meta_path``: for a watched name, finds the spec with
    the other finders and makes its loader run the pending fixes after the
    module body."""

    def __init__(self) -> None:
        self.pending: Dict[str, List[Fix]] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.pending:
            return None
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_fix(module: ModuleType) -> None:
            exec_module(module)
            # only once the module body succeeded: a failed import leaves
            # the fixes pending for the next attempt
            for fix in self.pending.pop(fullname, ()):
                fix(module)

        spec.loader.exec_module = exec_then_fix
        return spec


class _PlaceholderFinder:
    """Last on ``sys.meta_path``: asked only when no other finder found the
    module, so an installed real module always wins."""

    def __init__(self) -> None:
        self.builders: Dict[str, Tuple[Fix, bool]] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.builders:
            return None
        return ModuleSpec(
            fullname, self, is_package=self.builders[fullname][1])

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        self.builders[module.__name__][0](module)


_AFTER_IMPORT = _AfterImportFinder()
_PLACEHOLDERS = _PlaceholderFinder()


def after_import(name: str, fix: Fix) -> None:
    """Run ``fix(module)`` once module ``name`` has been imported: now if it
    is in ``sys.modules``, else right after its first import. Registering
    the same fix again does nothing."""
    if name in sys.modules:
        fix(sys.modules[name])
        return
    fixes = _AFTER_IMPORT.pending.setdefault(name, [])
    if fix not in fixes:
        fixes.append(fix)
    if _AFTER_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _AFTER_IMPORT)


def placeholder_if_missing(name: str,
                           build: Fix,
                           is_package: bool = False) -> None:
    """When importing ``name`` finds no module, create an empty one (a
    package when ``is_package``) and fill it with ``build(module)``."""
    _PLACEHOLDERS.builders[name] = (build, is_package)
    if _PLACEHOLDERS not in sys.meta_path:
        sys.meta_path.append(_PLACEHOLDERS)
