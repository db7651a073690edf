"""Load the project's tool scripts (not a package) as modules."""
import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[3] / 'projects' / 'groundnlq' / \
    'tools'


def load_tool(name: str):
    """Import ``projects/groundnlq/tools/{name}.py`` (its folder is on
    ``sys.path`` while it loads, for the tools' own imports)."""
    sys.path.insert(0, str(TOOLS))
    try:
        spec = importlib.util.spec_from_file_location(f'_gnlq_{name}',
                                                      TOOLS / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOLS))
    return module
