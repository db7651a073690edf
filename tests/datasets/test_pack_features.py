import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from vtg_plugins.datasets import BACKENDS, DirectoryStore, PackedStore
from vtg_plugins.datasets.feature_stores import DirectoryWriter, PackedWriter

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'data' / (
    'pack_features.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('pack_features', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def src(tmp_path):
    rng = np.random.default_rng(0)
    items = {f'vid{i}': rng.standard_normal((i + 2, 2, 6)).astype(np.float16)
             for i in range(6)}
    with DirectoryWriter(tmp_path / 'dir', meta=dict(fps=0.5)) as w:
        for k, v in items.items():
            w.add(k, v)
    return tmp_path / 'dir', items


def test_chain_of_conversions(tool, src, tmp_path, capsys):
    root, items = src
    chain = [('dir', root), ('packed', tmp_path / 'packed'),
             ('lmdb', tmp_path / 'lmdb'), ('dir', tmp_path / 'dir2')]
    for (sb, s), (db, d) in zip(chain[:-1], chain[1:]):
        assert tool.main([str(s), str(d), '--src-backend', sb,
                          '--dst-backend', db, '--shard-size-mb', '0.0002',
                          '--verify']) == 0
        assert 'verified 6 items' in capsys.readouterr().out
    for backend, path in chain[1:]:
        store = BACKENDS[backend][0](path)
        assert store.meta == {'fps': 0.5}
        for k, v in items.items():
            np.testing.assert_array_equal(store[k], v)
    assert len(list((tmp_path / 'packed').glob('*_data.npy'))) > 1
    assert not list(tmp_path.glob('*.partial'))
    # an existing destination is never overwritten by accident
    with pytest.raises(FileExistsError):
        tool.main([str(root), str(tmp_path / 'packed'), '--src-backend',
                   'dir', '--dst-backend', 'packed'])


def test_resumes_interrupted_run(tool, src, tmp_path, capsys):
    root, items = src
    dst = tmp_path / 'packed'
    w = PackedWriter(dst, shard_size_mb=1e-6)  # one item per shard
    for k in list(items)[:2]:
        w.add(k, items[k])  # interrupted: never committed
    assert not dst.exists()
    assert tool.main([str(root), str(dst), '--src-backend', 'dir',
                      '--dst-backend', 'packed', '--verify']) == 0
    out = capsys.readouterr().out
    assert 'resuming, 2 items already written' in out
    assert 'wrote 4 items (2 resumed)' in out
    store = PackedStore(dst)
    assert sorted(store.keys()) == sorted(items)


def test_cli_runs_as_script(src, tmp_path, run_cmd):
    root, items = src
    proc = run_cmd([sys.executable, TOOL, root, tmp_path / 'out',
                    '--src-backend', 'dir', '--dst-backend', 'dir', '--ext',
                    '.npz', '--compress'])
    assert 'wrote 6 items' in proc.stdout
    assert len(list((tmp_path / 'out').glob('*.npz'))) == 6
    np.testing.assert_array_equal(
        DirectoryStore(tmp_path / 'out')['vid3'], items['vid3'])


def test_wrong_source_backend(tool, src, tmp_path):
    root, _ = src
    with pytest.raises(FileNotFoundError, match=f'{root} has no data.mdb'):
        tool.main([str(root), str(tmp_path / 'x'), '--src-backend', 'lmdb',
                   '--dst-backend', 'dir'])
    assert not (tmp_path / 'x').exists()
