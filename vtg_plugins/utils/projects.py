"""Discover installed method projects through their entry points.

Each project's ``pyproject.toml`` declares
``[project.entry-points."vtg_plugins.projects"] <name> = "vtg_<name>"``, so a
project installed on its own (``pip install projects/<name>``) is found here
without the rest of the repository.
"""
from importlib.metadata import entry_points
from typing import Dict

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
