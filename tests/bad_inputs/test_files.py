"""File modes of everything written atomically (vtg_plugins.utils.io): a new
file follows the umask as a plain ``open`` does, a replaced file keeps its
permission bits, under a permissive (022) and a private (077) umask."""
import os
import stat

import numpy as np
import pytest

from vtg_plugins.datasets.feature_stores import BACKENDS
from vtg_plugins.utils.io import (atomic_path, atomic_save_npy, atomic_write,
                                  atomic_write_bytes, atomic_write_json,
                                  atomic_write_text)

UMASKS = {0o022: (0o644, 0o755), 0o077: (0o600, 0o700)}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=sorted(UMASKS), ids=lambda u: f'umask{u:03o}')
def umask(request):
    """Set the process umask for one test; yields (umask, file mode,
    directory mode) expected from a plain open() / mkdir()."""
    old = os.umask(request.param)
    try:
        yield (request.param, ) + UMASKS[request.param]
    finally:
        os.umask(old)


def _plain_mode(path) -> int:
    with open(path, 'w') as f:
        f.write('x')
    return mode(path)


def _atomic_write(path):
    with atomic_write(path, 'w') as f:
        f.write('x')


def _memmap_writer(path):
    with atomic_path(path) as tmp:
        np.lib.format.open_memmap(tmp, mode='w+', dtype=np.int8,
                                  shape=(2, ))[:] = 1


WRITERS = {
    'atomic_write': _atomic_write,
    'atomic_write_text': lambda p: atomic_write_text(p, 'x'),
    'atomic_write_bytes': lambda p: atomic_write_bytes(p, b'x'),
    'atomic_write_json': lambda p: atomic_write_json(p, [1]),
    'atomic_save_npy': lambda p: atomic_save_npy(p, np.zeros(2)),
    'atomic_path': _memmap_writer,
}


@pytest.mark.parametrize('writer', sorted(WRITERS))
def test_new_file_follows_the_umask(tmp_path, umask, writer):
    _, file_mode, _ = umask
    WRITERS[writer](tmp_path / 'new')
    assert mode(tmp_path / 'new') == file_mode == _plain_mode(tmp_path / 'p')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['new', 'p']


@pytest.mark.parametrize('writer', sorted(WRITERS))
@pytest.mark.parametrize('old_mode', [0o600, 0o640, 0o664, 0o444])
def test_replaced_file_keeps_its_mode(tmp_path, umask, writer, old_mode):
    """Neither widened (0o600 under umask 022) nor narrowed (0o664 under
    umask 077): what a plain open() of the existing file leaves."""
    path, plain = tmp_path / 'old', tmp_path / 'plain'
    for p in (path, plain):
        p.write_bytes(b'previous')
        os.chmod(p, old_mode)
    WRITERS[writer](path)
    assert mode(path) == old_mode
    if old_mode & 0o200 or os.geteuid() == 0:  # else open() is refused
        assert mode(path) == _plain_mode(plain)


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_store_files_and_folder_follow_the_umask(tmp_path, umask, backend):
    """Stores are staged in ``{root}.partial`` and moved by replace_dir."""
    _, file_mode, dir_mode = umask
    writer = BACKENDS[backend][1]
    root = tmp_path / 'store'
    with writer(root, meta=dict(dtype='float32')) as w:
        w.add('v0', np.ones((3, 4), np.float32))
    files = [p for p in root.rglob('*') if p.is_file()]
    assert {p.name for p in files} >= {'meta.json'} and len(files) >= 2
    assert {p.name: mode(p) for p in files} == {
        p.name: file_mode for p in files}
    assert mode(root) == dir_mode
    # a store the user made private stays private when it is rewritten
    os.chmod(root, 0o700)
    with writer(root, overwrite=True) as w:
        w.add('v1', np.ones((3, 4), np.float32))
    assert mode(root) == 0o700 and sorted(BACKENDS[backend][0](root).keys()) \
        == ['v1']


def test_mmengine_checkpoint_and_dump_follow_the_umask(tmp_path, umask):
    import torch
    from mmengine import dump
    from mmengine.runner import save_checkpoint

    import vtg_plugins  # noqa: F401  (installs the atomic LocalBackend.put)
    from vtg_plugins.evaluation.metrics import DumpSubmission
    _, file_mode, _ = umask
    ckpt = tmp_path / 'epoch_1.pth'
    save_checkpoint(dict(state_dict=torch.nn.Linear(2, 2).state_dict()),
                    str(ckpt))
    dump([dict(index=0, pred=1.0)], str(tmp_path / 'preds.pkl'))
    metric = DumpSubmission(out_file_path=str(tmp_path / 'preds.jsonl'))
    metric.process(None, [dict(qid=1, vid='v', query='q',
                               pred_relevant_windows=[[0.0, 2.0, 0.9]])])
    metric.compute_metrics(metric.results)
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        'epoch_1.pth': file_mode, 'preds.pkl': file_mode,
        'preds.jsonl': file_mode}
    os.chmod(ckpt, 0o640)  # a checkpoint saved again keeps its mode
    save_checkpoint(dict(state_dict={}), str(ckpt))
    assert mode(ckpt) == 0o640


def test_train_and_test_dump_follow_umask_022(tmp_path, repo, smoke_config,
                                             run_cmd):
    """End to end: checkpoints, ``last_checkpoint`` and ``--dump`` under
    umask 022 are 0o644 (mkstemp made them 0o600)."""
    old = os.umask(0o022)  # the tools inherit it
    try:
        wd = tmp_path / 'wd'
        run_cmd(['python', repo / 'tools' / 'train.py', smoke_config,
                 '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'],
                cwd=tmp_path)
        run_cmd(['python', repo / 'tools' / 'test.py', smoke_config,
                 wd / 'epoch_1.pth', '--work-dir', wd, '--dump',
                 tmp_path / 'preds.pkl'], cwd=tmp_path)
    finally:
        os.umask(old)
    for path in (wd / 'epoch_1.pth', wd / 'last_checkpoint',
                 tmp_path / 'preds.pkl'):
        assert mode(path) == 0o644, path
