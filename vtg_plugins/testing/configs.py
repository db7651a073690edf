"""Small config-file helpers for tests and benchmarks."""
from pathlib import Path


def write_config(path: Path, base: Path, body: str = '') -> Path:
    """Write a config at ``path`` that inherits ``base`` (an absolute path)
    and adds ``body`` (config source text). Returns ``path``."""
    path = Path(path)
    path.write_text(f'_base_ = [{str(base)!r}]\n{body}\n')
    return path
