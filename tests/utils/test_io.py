"""Atomic writes: a failed write leaves the previous file (or directory)
and no temporary file behind."""
import json
import os
import stat

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


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_temporary_file_shows_no_one_more_than_the_final_file(tmp_path):
    """A private file being replaced under a permissive umask: the new
    content is never readable by others, not even while it is written."""
    path = tmp_path / 'secret.json'
    path.write_text('old')
    os.chmod(path, 0o600)
    old = os.umask(0)
    try:
        with atomic_write(path, 'w') as f:
            (tmp,) = [p for p in tmp_path.iterdir() if p != path]
            assert _mode(tmp) == 0o600
            f.write('new')
    finally:
        os.umask(old)
    assert _mode(path) == 0o600 and path.read_text() == 'new'


def test_writers_reopening_by_name_work_under_a_read_only_umask(tmp_path):
    """umask 0o277 makes new files read-only, as open() does; a writer that
    reopens the temporary file by name (torch.save, open_memmap) can."""
    old = os.umask(0o277)
    try:
        with atomic_path(tmp_path / 'shard.npy') as tmp, open(tmp, 'wb') as f:
            np.save(f, np.arange(3))
    finally:
        os.umask(old)
    assert _mode(tmp_path / 'shard.npy') == 0o400
    np.testing.assert_array_equal(np.load(tmp_path / 'shard.npy'), [0, 1, 2])


def test_replace_dir_keeps_the_replaced_directory_mode(tmp_path):
    old, new = tmp_path / 'store', tmp_path / 'store.partial'
    old.mkdir(mode=0o750)
    os.chmod(old, 0o750)
    new.mkdir()
    os.chmod(new, 0o777)
    replace_dir(new, old)
    assert _mode(old) == 0o750
