"""Load the project's command-line tools (scripts, not a package) as
modules; the logic they wrap is importable from ``vtg_groundnlq``."""
import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[3] / 'projects' / 'groundnlq' / \
    'tools'


def load_tool(name: str):
    """Import ``projects/groundnlq/tools/{name}.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f'_gnlq_{name}',
                                                  TOOLS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
