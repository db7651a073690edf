"""Versions and devices, for bug reports and `python -m vtg_plugins info`."""
import platform
import sys
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version

from .projects import list_projects

_PACKAGES = ('torch', 'torchvision', 'mmengine', 'mmcv-lite',
             'mmaction2', 'open_clip_torch', 'transformers', 'numpy',
             'decord', 'av', 'deepspeed')


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return 'not installed'


def collect_env() -> 'OrderedDict[str, str]':
    """Python, package versions, CUDA and the installed projects."""
    import torch

    from vtg_plugins import __version__
    info = OrderedDict()
    info['python'] = sys.version.split()[0]
    info['platform'] = platform.platform()
    info['vtg_plugins'] = __version__
    for dist in _PACKAGES:
        info[dist] = _version(dist)
    info['cuda available'] = str(torch.cuda.is_available())
    info['torch cuda'] = str(torch.version.cuda)
    if torch.cuda.is_available():
        info['gpus'] = ', '.join(
            torch.cuda.get_device_name(i)
            for i in range(torch.cuda.device_count()))
    projects = list_projects()
    info['projects'] = ', '.join(
        f"{n} ({p['dist']} {p['version']})"
        for n, p in projects.items()) or 'none'
    return info
