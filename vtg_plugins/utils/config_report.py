"""How the config lint reports a problem: the key path, what is wrong with
the closest valid names, and where the key came from (``--cfg-options`` or
the config files, the entry one and those it inherits, that spell it)."""
import os.path as osp
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional

from mmengine.config import Config

from .config_keys import close_names


@dataclass
class ConfigProblem:
    """One problem: the key path, what is wrong, and a regex of the text
    that states it in a config file (to name the file)."""
    path: str
    message: str
    needle: Optional[str] = None


def join_path(path: str, key) -> str:
    """``a.b`` + ``c`` -> ``a.b.c`` (list indices too: ``a.0``), the way
    ``--cfg-options`` writes a key."""
    return f'{path}.{key}' if path else str(key)


def key_needle(key: str) -> str:
    """A regex of ``key`` set in a config file (``key=`` or ``'key':``)."""
    key = re.escape(key)
    return rf'\b{key}\s*=|[\'"]{key}[\'"]\s*:'


def hint(word: str, valid: Iterable[str]) -> str:
    """The closest valid names to a wrong ``word``, else all of them."""
    valid = sorted(set(valid) - {'_scope_'})
    close = close_names(word, valid)
    if close:
        return 'did you mean ' + ' or '.join(repr(c) for c in close) + '?'
    return 'valid: ' + ', '.join(valid) if valid else 'none is known'


def config_files(path: str) -> List[str]:
    """``path`` and the files it inherits, depth first."""
    files, todo = [], [osp.abspath(path)]
    while todo:
        current = todo.pop(0)
        if current in files or not osp.isfile(current):
            continue
        files.append(current)
        try:
            bases = Config._get_base_files(current)
        except Exception:  # noqa: BLE001  (unreadable: no bases to name)
            continue
        for base in bases:
            try:
                base_path, _ = Config._get_cfg_path(base, current)
            except Exception:  # noqa: BLE001
                continue
            todo.append(
                base_path if osp.isabs(base_path) else osp.
                join(osp.dirname(current), base_path))
    return files


def origin(problem: ConfigProblem, options: dict, files: List[str]) -> str:
    """`` (from --cfg-options KEY)`` or `` (in FILE, ...)``, or nothing."""
    for key in options:
        inside = key.startswith(problem.path + '.') and \
            key.rsplit('.', 1)[-1] in problem.message
        if inside or problem.path == key or \
                problem.path.startswith(key + '.'):
            return f' (from --cfg-options {key})'
    if problem.needle is None:
        return ''
    hits = []
    for path in files:
        try:
            with open(path, encoding='utf-8') as f:
                if re.search(problem.needle, f.read()):
                    hits.append(path)
        except (OSError, UnicodeDecodeError):
            continue
    return f' (in {", ".join(hits)})' if hits else ''


def format_problems(problems: List[ConfigProblem],
                    config_path: str,
                    options: Optional[dict] = None) -> str:
    """One line per problem: the key path, what is wrong, where it came
    from (``--cfg-options`` or the config files that spell it)."""
    files = config_files(config_path)
    lines = [
        f'  {p.path or "<config>"}: {p.message}'
        f'{origin(p, options or {}, files)}' for p in problems
    ]
    return '\n'.join(lines)
