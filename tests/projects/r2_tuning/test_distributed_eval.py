"""R²-Tuning evaluated by tools/dist_test.sh on 2 CPU ranks gives exactly the
single-process QVHighlights metrics (15 queries: the sampler pads one)."""
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import vtg_r2_tuning  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_plugins.testing import make_qvhighlights

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py'


@pytest.mark.slow
def test_dist_test_equals_single_process(tmp_path, run_cmd, read_metrics):
    data = tmp_path / 'data'
    make_qvhighlights(data, splits=dict(val=5), queries_per_video=3,
                      num_clips=(10, 20), num_tokens=5, vis_dim=64,
                      txt_dim=64, num_topics=4, seed=1)
    cfg = Config.fromfile(CONFIG)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={data}/',
            'test_dataloader.batch_size=4']
    single = read_metrics(run_cmd(
        [sys.executable, REPO / 'tools' / 'test.py', CONFIG, ckpt,
         '--work-dir', tmp_path / 'w1', *opts]).stdout)
    dist = read_metrics(run_cmd(
        [REPO / 'tools' / 'dist_test.sh', CONFIG, ckpt, 2, '--work-dir',
         tmp_path / 'w2', *opts], env=dict(PORT='29741')).stdout)
    assert 'qvhighlights/MR-full-mAP' in single
    assert dist == single
