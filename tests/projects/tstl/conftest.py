"""Shared by the TSTL end-to-end, config and distributed tests: the tiny
configs' synthetic videos, ``--cfg-options`` pointing a config at them, the
model a tiny config trains from, and tool runs side by side."""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import vtg_tstl  # noqa: F401  (registers TSTL)
from vtg_plugins.registry import MODELS
from vtg_plugins.testing.action_videos import make_action_videos

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def tiny_videos(tmp_path):
    """The data the tiny configs name (4 classes, 6 train and 2 val videos
    each, 8 frames of 40 x 48), written under ``tmp_path / 'data'``."""
    return make_action_videos(
        str(tmp_path / 'data'), splits=dict(train=6, val=2), num_classes=4,
        num_frames=8, size=(40, 48))


def _data_options(data, loaders=('train', 'val', 'test'), wrapped=False,
                  lists=None):
    """``key=value`` overrides pointing each loader's dataset (its
    ``dataset.dataset`` when wrapped by ``GroupLabelDataset``) at ``data``:
    the train loader at the train list, the others at ``lists`` (loader ->
    list file) or the val list."""
    lists = dict(lists or {})
    field = 'dataset.dataset' if wrapped else 'dataset'
    options = []
    for loader in loaders:
        split = 'train' if loader == 'train' else 'val'
        ann = lists.get(loader, data.lists[split])
        options += [f'{loader}_dataloader.{field}.ann_file={ann}',
                    f'{loader}_dataloader.{field}.data_prefix.video='
                    f'{data.video_dir}/']
    return options


@pytest.fixture
def data_options():
    return _data_options


def _untrained(config, **model_changes) -> torch.nn.Module:
    """The model training with ``config`` starts from (its seed, then
    ``init_weights``); ``model_changes`` update ``cfg.model`` first."""
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.default_scope)
    cfg.model.update(model_changes)
    set_random_seed(cfg.randomness.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


@pytest.fixture
def untrained_model():
    return _untrained


@pytest.fixture
def run_side_by_side(run_cmd):
    """Run ``(cmd, env)`` pairs at once, each as ``run_cmd`` in the
    repository (the configs name files relative to it); the processes in
    order. A failure shows that command's output."""

    def run(*calls):
        with ThreadPoolExecutor(len(calls)) as pool:
            futures = [pool.submit(run_cmd, cmd, cwd=REPO, env=env)
                       for cmd, env in calls]
            return [f.result() for f in futures]

    return run
