"""The import hooks of vtg_plugins.compat: fixes wait for their module, a
placeholder never shadows a real module, and installing is light and
idempotent."""
import importlib
import subprocess
import sys

import pytest

from vtg_plugins import compat
from vtg_plugins.compat import _hooks

HEAVY = ('numpy', 'torch', 'mmengine', 'mmaction', 'deepspeed',
         'transformers')


@pytest.fixture
def pkg_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith('vtg_hooktest')]:
        del sys.modules[name]
    for table in (_hooks._AFTER_IMPORT.pending, _hooks._PLACEHOLDERS.builders):
        for name in [m for m in table if m.startswith('vtg_hooktest')]:
            del table[name]


def test_importing_vtg_plugins_imports_nothing_heavy():
    code = ('import sys, vtg_plugins; '
            f'print(sorted(m for m in {HEAVY!r} if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.strip() == '[]'


def test_fix_runs_after_first_import_and_waits_out_a_failure(pkg_dir):
    mod = pkg_dir / 'vtg_hooktest_a.py'
    mod.write_text('raise RuntimeError("broken")\n')
    seen = []
    _hooks.after_import('vtg_hooktest_a', seen.append)
    _hooks.after_import('vtg_hooktest_a', seen.append)  # again: no-op
    with pytest.raises(RuntimeError):
        import vtg_hooktest_a  # noqa: F401
    assert seen == []
    mod.write_text('VALUE = 1\n')
    importlib.invalidate_caches()
    import vtg_hooktest_a
    assert seen == [vtg_hooktest_a]
    assert 'vtg_hooktest_a' not in _hooks._AFTER_IMPORT.pending
    # registered for a module already imported: runs at once
    _hooks.after_import('vtg_hooktest_a', seen.append)
    assert seen == [vtg_hooktest_a, vtg_hooktest_a]


def test_placeholder_only_when_the_module_is_missing(pkg_dir):
    (pkg_dir / 'vtg_hooktest_b').mkdir()
    (pkg_dir / 'vtg_hooktest_b' / '__init__.py').write_text('')
    (pkg_dir / 'vtg_hooktest_b' / 'real.py').write_text('KIND = "real"\n')

    def fill(module):
        module.KIND = 'placeholder'

    _hooks.placeholder_if_missing('vtg_hooktest_b.real', fill)
    _hooks.placeholder_if_missing('vtg_hooktest_b.gone', fill)
    from vtg_hooktest_b import gone, real
    assert real.KIND == 'real'
    assert gone.KIND == 'placeholder'


def test_apply_all_is_idempotent():
    compat.apply_all()
    before = (list(sys.meta_path), {
        k: list(v)
        for k, v in _hooks._AFTER_IMPORT.pending.items()
    }, dict(_hooks._PLACEHOLDERS.builders))
    compat.apply_all()
    after = (list(sys.meta_path), {
        k: list(v)
        for k, v in _hooks._AFTER_IMPORT.pending.items()
    }, dict(_hooks._PLACEHOLDERS.builders))
    assert after == before
    assert sys.meta_path.count(_hooks._AFTER_IMPORT) == 1
    assert sys.meta_path.count(_hooks._PLACEHOLDERS) == 1
