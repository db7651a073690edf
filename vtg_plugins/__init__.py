"""vtg_plugins: video-language methods as MMEngine/MMAction2 plugins."""
from . import compat
from .version import __version__

compat.apply_all()

__all__ = ['__version__', 'compat']
