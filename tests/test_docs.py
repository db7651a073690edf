"""The documentation points at things that exist.

- every relative link of ``docs/**/*.md`` and ``README.md`` resolves, and a
  ``#anchor`` into a markdown file names one of its headings;
- every repository path quoted in ``docs/`` (inline code or code blocks:
  ``tools/...``, ``configs/...``, ``projects/...``, ``tests/...``,
  ``vtg_plugins/...``) exists, and every quoted dotted name ``vtg_*.x.y``
  imports;
- every ``--flag`` quoted with one of our Python tools is an option of it.
"""
import importlib
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / 'docs').rglob('*.md'))
LINKED = DOCS + [REPO / 'README.md']

LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```[^\n]*\n(.*?)^```', re.S | re.M)
INLINE = re.compile(r'`([^`\n]+)`')
HEADING = re.compile(r'^#{1,6}\s+(.+?)\s*$', re.M)
SPLIT = re.compile(r'''[\s()\[\],'"=;|]+''')
PATH_PREFIXES = ('tools/', 'configs/', 'projects/', 'tests/', 'vtg_plugins/',
                 'docs/')
#: placeholders such as projects/<name>/, {method}_..., projects/*/, $NAME
PLACEHOLDER = re.compile(r'[<>{}*$]|\.\.\.')
DOTTED = re.compile(r'^vtg_[a-z0-9_]+(\.[A-Za-z_][A-Za-z0-9_]*)+$')
TOOL = re.compile(r'(?:^|[\s`])((?:projects/[\w-]+/)?tools/[\w/]+\.py)')
FLAG = re.compile(r'(?<![\w-])(--[a-z][a-z0-9-]*)')
#: dotted names in the docs that are not Python objects
NOT_MODULES = {'vtg_plugins.projects'}  # the entry-point group


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation
    dropped, spaces to hyphens."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    text = re.sub(r'[^\w\- ]', '', text.lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> set:
    return {slug(h) for h in HEADING.findall(_prose(path.read_text()))}


def _prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub('', text)


def code_texts(text: str) -> Iterator[str]:
    """Contents of code blocks (line by line) and inline code spans."""
    for block in FENCE.findall(text):
        yield from block.splitlines()
    yield from INLINE.findall(_prose(text))


def link_errors(path: Path) -> List[str]:
    """Relative links of a markdown file that do not resolve."""
    errors = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r'^[a-z]+:', target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition('#')
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            errors.append(f'{path.name}: link {target!r}: {dest} does not '
                          'exist')
        elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
            errors.append(f'{path.name}: link {target!r}: no heading '
                          f'#{anchor} in {dest.name}')
    return errors


def quoted_names(path: Path) -> Iterator[Tuple[str, str]]:
    """``('path' | 'dotted', token)`` for every quoted repository path and
    dotted ``vtg_*`` name of a markdown file."""
    for code in code_texts(path.read_text()):
        for token in SPLIT.split(code):
            token = token.rstrip('.,:')
            if token.startswith('./'):
                token = token[2:]
            if not token or PLACEHOLDER.search(token):
                continue
            if token.startswith(PATH_PREFIXES):
                yield 'path', token
            elif DOTTED.match(token):
                yield 'dotted', token


def resolves(dotted: str) -> bool:
    """Whether ``a.b.c`` is an importable module or an attribute of one."""
    parts = dotted.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def name_errors(path: Path, root: Path = REPO) -> List[str]:
    """Quoted paths that do not exist and dotted names that do not
    import."""
    errors = []
    for kind, token in quoted_names(path):
        if kind == 'path' and not (root / token).exists():
            errors.append(f'{path.name}: path {token} does not exist')
        elif kind == 'dotted' and token not in NOT_MODULES and \
                not resolves(token):
            errors.append(f'{path.name}: {token} does not import')
    return errors


def _with_imported_sources(source: str, root: Path) -> str:
    """A tool's source and that of the ``vtg_plugins`` modules it imports
    names from (a tool may take its options from a shared parser)."""
    for module in re.findall(r'^from (vtg_plugins[\w.]*) import', source,
                             re.M):
        path = root / (module.replace('.', '/') + '.py')
        if path.is_file():
            source += path.read_text()
    return source


def flag_errors(path: Path, root: Path = REPO) -> List[str]:
    """``--flags`` quoted next to one of our Python tools that the tool
    does not define."""
    errors = []
    for code in code_texts(path.read_text()):
        tools = TOOL.findall(' ' + code)
        if len(tools) != 1 or not (root / tools[0]).is_file():
            continue  # no tool, or several (flags ambiguous); paths checked
        source = _with_imported_sources((root / tools[0]).read_text(), root)
        for flag in FLAG.findall(code.split(tools[0], 1)[1]):
            if flag != '--help' and f"'{flag}'" not in source:
                errors.append(f'{path.name}: {tools[0]} has no option {flag}')
    return errors


def test_the_docs_exist():
    names = {p.relative_to(REPO / 'docs').as_posix() for p in DOCS}
    assert {
        'index.md', 'get_started.md', 'architecture.md', 'data_contracts.md',
        'evaluation.md', 'adding_a_method.md'
    } <= names, names
    assert len([n for n in names if n.startswith('method_kinds/')]) == 3


@pytest.mark.parametrize('path', LINKED, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    assert not link_errors(path)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_quoted_paths_and_modules_exist(path):
    assert not name_errors(path)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_quoted_tool_flags_exist(path):
    assert not flag_errors(path)


def test_every_page_is_reachable_from_the_index():
    index = REPO / 'docs' / 'index.md'
    linked = {(index.parent / t.partition('#')[0]).resolve()
              for t in LINK.findall(index.read_text())}
    assert set(DOCS) - {index} <= linked


def test_the_checks_catch_stale_references(tmp_path):
    (tmp_path / 'tools').mkdir()
    tool = tmp_path / 'tools' / 'train.py'
    tool.write_text("parser.add_argument('--work-dir')\n")
    (tmp_path / 'other.md').write_text('# Real heading\n')
    doc = tmp_path / 'page.md'
    doc.write_text(
        '# Page\n\n[ok](other.md#real-heading) [gone](missing.md) '
        '[bad anchor](other.md#no-such-heading) [web](https://x.org/a)\n\n'
        '`tools/train.py --work-dir W --no-such-flag`, `configs/gone.py`, '
        '`projects/<name>/tools/` (a placeholder), '
        '`vtg_plugins.registry.MODELS`, `vtg_plugins.registry.NO_SUCH`\n\n'
        '```bash\npython tools/gone.py CONFIG\n```\n')
    links = link_errors(doc)
    assert len(links) == 2
    assert 'missing.md' in links[0] and '#no-such-heading' in links[1]
    names = name_errors(doc, root=tmp_path)
    assert names == [
        'page.md: path tools/gone.py does not exist',
        'page.md: path configs/gone.py does not exist',
        'page.md: vtg_plugins.registry.NO_SUCH does not import',
    ]
    flags = flag_errors(doc, root=tmp_path)
    assert flags == ['page.md: tools/train.py has no option --no-such-flag']
