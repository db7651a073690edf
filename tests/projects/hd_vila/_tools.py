"""Load HD-VILA's command-line tools (scripts, not a package) and this
folder's official-layout helpers (``official_checkpoints.py``,
``official_configs.py``) as modules."""
import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOOLS = HERE.parents[2] / 'projects' / 'hd_vila' / 'tools'


def _load_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(name: str):
    """Import ``projects/hd_vila/tools/{name}.py`` as a module."""
    return _load_file(f'_hd_vila_{name}', TOOLS / f'{name}.py')


def load_helper(name: str):
    """Import ``tests/projects/hd_vila/{name}.py`` as a module."""
    return _load_file(f'_hd_vila_{name}', HERE / f'{name}.py')
