"""Versions, devices and the code's git state, for bug reports, `python -m
vtg_plugins info` and the reproducibility card."""
import importlib.util
import os.path as osp
import platform
import subprocess
import sys
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version
from typing import Optional

from .projects import list_projects

_PACKAGES = ('torch', 'torchvision', 'mmengine', 'mmcv-lite', 'mmaction2',
             'open_clip_torch', 'transformers', 'numpy', 'decord', 'av',
             'deepspeed')
#: the stack :func:`stack_versions` reports: import name -> distributions
STACK = dict(
    torch=('torch', ),
    mmengine=('mmengine', ),
    mmcv=('mmcv', 'mmcv-lite'),
    mmaction=('mmaction2', ),
    open_clip=('open_clip_torch', ),
    transformers=('transformers', ),
    deepspeed=('deepspeed', ))


def _installed(dist: str) -> Optional[str]:
    """The installed version of distribution ``dist``, else None."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _version(dist: str) -> str:
    return _installed(dist) or 'not installed'


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
    info['projects'] = ', '.join(f"{n} ({p['dist']} {p['version']})"
                                 for n, p in projects.items()) or 'none'
    return info


def stack_versions() -> dict:
    """Python, the importable packages of :data:`STACK` (the version of the
    first of their distributions installed), CUDA if used."""
    out = dict(python=platform.python_version())
    for module, dists in STACK.items():
        if importlib.util.find_spec(module) is None:
            continue
        found = next(filter(None, map(_installed, dists)), None)
        if found is not None:
            out[module] = found
    import torch
    if torch.cuda.is_available():
        out['cuda'] = torch.version.cuda
    return out


def git_state(path: str) -> Optional[dict]:
    """Commit and dirty flag (tracked files changed, as ``git describe
    --dirty`` has it) of the git checkout tracking ``path``, else None."""
    folder, name = osp.split(path)
    out = []
    for args in (('ls-files', '--error-unmatch', name), ('rev-parse', 'HEAD'),
                 ('status', '--porcelain', '--untracked-files=no')):
        try:
            proc = subprocess.run(['git', '-C', folder, *args],
                                  capture_output=True,
                                  text=True,
                                  timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:
            return None
        out.append(proc.stdout)
    return dict(commit=out[1].strip(), dirty=bool(out[2].strip()))


def code_version(project: Optional[str] = None) -> dict:
    """The version of vtg_plugins, ``project`` (a method's ``'package
    version'``) when given, and the git state of the checkout holding
    vtg_plugins when it is one (:func:`git_state`)."""
    import vtg_plugins
    code = dict(vtg_plugins=vtg_plugins.__version__)
    if project is not None:
        code['project'] = project
    git = git_state(vtg_plugins.__file__)
    return dict(code, git=git) if git is not None else code
