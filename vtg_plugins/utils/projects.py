"""Discover installed method projects through their entry points.

Each project's ``pyproject.toml`` declares
``[project.entry-points."vtg_plugins.projects"] <name> = "vtg_<name>"``, so a
project installed on its own (``pip install projects/<name>``) is found here
without the rest of the repository.
"""
import importlib
from importlib.metadata import entry_points
from typing import Dict, List

GROUP = 'vtg_plugins.projects'


def list_projects() -> Dict[str, dict]:
    """Installed projects: ``{name: {'module': str, 'dist': str,
    'version': str}}``, sorted by name."""
    found = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist
        found[ep.name] = dict(
            module=ep.value,
            dist=dist.metadata['Name'] if dist is not None else '?',
            version=dist.version if dist is not None else '?')
    return dict(sorted(found.items()))


def import_projects(names: List[str] = None) -> list:
    """Import installed projects (all, or the given names) so their modules
    register. Returns the imported modules."""
    projects = list_projects()
    names = list(projects) if names is None else names
    missing = [n for n in names if n not in projects]
    if missing:
        raise ValueError(f'projects {missing} are not installed; installed: '
                         f'{sorted(projects)}')
    return [importlib.import_module(projects[n]['module']) for n in names]
