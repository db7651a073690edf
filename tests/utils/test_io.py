"""Atomic writes: a failed write leaves the previous file (or directory)
and no temporary file behind."""
import json

import numpy as np
import pytest

from vtg_plugins.utils.io import (atomic_path, atomic_save_npy, atomic_write,
                                  atomic_write_bytes, atomic_write_json,
                                  atomic_write_text, replace_dir)


def _crash(*args, **kwargs):
    raise KeyboardInterrupt  # e.g. the job is killed


def test_writers_create_folders_and_files(tmp_path):
    assert atomic_write_text(tmp_path / 'a' / 't.txt', 'é') == str(
        tmp_path / 'a' / 't.txt')
    assert (tmp_path / 'a' / 't.txt').read_bytes() == 'é'.encode('utf-8')
    atomic_write_bytes(tmp_path / 'b.bin', b'\x00\x01')
    atomic_write_json(tmp_path / 'c.json', dict(x=[1, 2]))
    assert json.loads((tmp_path / 'c.json').read_text()) == dict(x=[1, 2])
    atomic_save_npy(tmp_path / 'd.npy', np.arange(3, dtype=np.float16))
    np.testing.assert_array_equal(np.load(tmp_path / 'd.npy'), [0, 1, 2])
    with atomic_path(tmp_path / 'e.npy') as tmp:
        np.lib.format.open_memmap(tmp, mode='w+', dtype=np.int8,
                                  shape=(2, ))[:] = 7
    np.testing.assert_array_equal(np.load(tmp_path / 'e.npy'), [7, 7])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'a', 'b.bin', 'c.json', 'd.npy', 'e.npy'
    ]
    with pytest.raises(ValueError, match='modes w and wb'):
        with atomic_write(tmp_path / 'f', 'a'):
            pass


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'preds.json'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(path, 'w') as f:
            f.write('half')
            raise RuntimeError
    monkeypatch.setattr('os.replace', _crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, 'new')
    monkeypatch.undo()
    assert path.read_text() == 'old'
    assert [p.name for p in tmp_path.iterdir()] == ['preds.json']


def test_replace_dir_swaps_a_finished_directory(tmp_path):
    old, new = tmp_path / 'store', tmp_path / 'store.partial'
    old.mkdir()
    (old / 'x.npy').write_bytes(b'old')
    new.mkdir()
    (new / 'y.npy').write_bytes(b'new')
    replace_dir(new, old)
    assert [p.name for p in old.iterdir()] == ['y.npy']
    assert [p.name for p in tmp_path.iterdir()] == ['store']
    other = tmp_path / 'other'
    other.mkdir()
    replace_dir(other, tmp_path / 'fresh')  # nothing to replace
    assert (tmp_path / 'fresh').is_dir() and not other.exists()
