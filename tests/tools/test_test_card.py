"""tools/test.py prints the reproducibility card of the checkpoint it
tests (or that it has none) and warns where the test config's feature
recipe differs from the card's, testing all the same."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from vtg_plugins.testing import make_qvhighlights
from vtg_plugins.utils import launch

from ..conftest import SMOKE_CONFIG

R2_TINY = ('configs/r2_tuning/'
           'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py')
WARNING = "feature recipe differs from the checkpoint's"


@pytest.fixture(scope='module')
def smoke_checkpoint(tmp_path_factory):
    """One epoch of the smoke config (in this process): its checkpoint,
    with a card."""
    cfg = launch.load_config(str(SMOKE_CONFIG), {'train_cfg.max_epochs': 1})
    cfg.work_dir = str(tmp_path_factory.mktemp('smoke') / 'wd')
    launch.build_runner(cfg).train()
    return Path(cfg.work_dir) / 'epoch_1.pth'


def test_test_prints_the_card_of_the_checkpoint(tmp_path, repo, smoke_config,
                                                smoke_checkpoint, run_cmd,
                                                read_metrics):
    card = json.loads(
        (smoke_checkpoint.parent / 'repro_card.json').read_text())
    proc = run_cmd([
        'python', repo / 'tools' / 'test.py', smoke_config, smoke_checkpoint,
        '--work-dir', tmp_path / 't'
    ])
    out = proc.stdout
    assert f'{smoke_checkpoint}:\nReproducibility card' in out
    assert card['config']['sha256'] in out
    assert card['date'] in out
    assert WARNING not in out
    # printed before testing, and the test runs as before
    assert out.index('Reproducibility card') < out.index('metrics: ')
    assert read_metrics(out)['toy/num_samples'] == 11


def test_a_checkpoint_without_card_is_said_to_have_none(
        tmp_path, repo, smoke_config, smoke_checkpoint, run_cmd, read_metrics):
    weights = torch.load(smoke_checkpoint, weights_only=False)['state_dict']
    bare = tmp_path / 'converted.pth'
    torch.save(dict(state_dict=weights, meta={}), bare)
    proc = run_cmd([
        'python', repo / 'tools' / 'test.py', smoke_config, bare, '--work-dir',
        tmp_path / 't'
    ])
    assert f'{bare} has no reproducibility card' in proc.stdout
    assert 'Reproducibility card' not in proc.stdout
    assert read_metrics(proc.stdout)['toy/num_samples'] == 11


def _data(root: Path, arch) -> None:
    make_qvhighlights(
        root,
        splits=dict(train=4, val=2),
        num_clips=(6, 8),
        num_tokens=arch.num_tokens,
        vis_dim=arch.video_dims,
        txt_dim=arch.query_dims,
        seed=1)


@pytest.mark.slow
def test_test_warns_where_the_recipe_differs(tmp_path, repo, run_cmd,
                                             read_metrics):
    arch = Config.fromfile(str(repo / R2_TINY)).model.arch
    _data(tmp_path / 'data' / 'demo_qvhighlights', arch)
    # the same features, said to be cropped at 336 (store and test config)
    other = tmp_path / 'data' / 'crop336'
    _data(other, arch)
    meta_file = other / 'clip_b32_vid_k4' / 'meta.json'
    meta_file.write_text(
        json.dumps(dict(json.loads(meta_file.read_text()), crop=336)))
    run_cmd([
        'python', repo / 'tools' / 'train.py', repo / R2_TINY, '--work-dir',
        'wd', '--no-validate', '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=8'
    ],
            cwd=tmp_path)
    # (the same recipe gives no warning: tests/utils/test_repro_card.py)
    proc = run_cmd([
        'python', repo / 'tools' / 'test.py', repo / R2_TINY, 'wd/epoch_1.pth',
        '--work-dir', 'test', '--cfg-options',
        f'test_dataloader.dataset.data_root={other}',
        'test_dataloader.dataset.recipe.crop=336'
    ],
                   cwd=tmp_path)
    assert 'Reproducibility card' in proc.stdout
    warnings = [ln for ln in proc.stdout.splitlines() if WARNING in ln]
    assert len(warnings) == 1, proc.stdout[-3000:]
    assert 'WARNING' in warnings[0]
    assert warnings[0].endswith(
        'test dataset qvhighlights_val.jsonl: video recipe crop: trained on '
        '224, the config states 336')
    assert 'qvhighlights/MR-full-mAP' in read_metrics(proc.stdout)
