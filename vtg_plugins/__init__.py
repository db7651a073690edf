"""vtg_plugins: video-language methods as MMEngine/MMAction2 plugins.

Importing the package is light: it installs the upstream fixes of
:mod:`vtg_plugins.compat` (import hooks, nothing heavy is imported) and
loads no subpackage. The registries (:mod:`vtg_plugins.registry`) and the
modules registering into them load when a config or a caller needs them —
``default_scope='vtg_plugins'`` makes MMEngine import the registry, whose
``locations`` import the rest — so ``tools/evaluate.py`` runs on numpy alone.
"""
from . import compat
from .version import __version__

compat.apply_all()

__all__ = ['__version__', 'compat']
