"""Every R²-Tuning config (each its own test) builds its model and datasets
from synthetic stores in the official layouts, and one training batch of
each runs through the model's loss and one val sample through predict."""
import glob
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import vtg_r2_tuning  # noqa: F401
from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_plugins.registry import DATASETS, MODELS
from vtg_plugins.testing import make_qvhighlights
from vtg_r2_tuning.datasets import load_splits

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
# the official recipes; the scale-out variants (an engine overlay on one of
# them) are checked against their recipe
SCALE_OUT = ('_deepspeed-zero2.py', '_fsdp.py')
CONFIGS = sorted(
    c for c in glob.glob(
        osp.join(REPO, 'configs', 'r2_tuning', 'r2_tuning_clip-*.py'))
    if not c.endswith(SCALE_OUT))
QVHIGHLIGHTS = osp.join(REPO, 'configs', 'r2_tuning',
                        'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py')
# the grounding datasets' file names in the official layout
GROUNDING_FILES = {
    'qvhighlights': ('qvhighlights_train.jsonl', 'qvhighlights_val.jsonl',
                     'qvhighlights_test.jsonl'),
    'ego4d-nlq': ('nlq_train.jsonl', 'nlq_val.jsonl'),
    'charades-sta': ('charades_train.jsonl', 'charades_test.jsonl'),
    'tacos': ('train.jsonl', 'test.jsonl'),
}


@pytest.fixture(scope='module')
def grounding_root(tmp_path_factory):
    """QVHighlights-format data with ViT-B/32 shapes and short videos, at
    0.5 fps (2-s clips) and at 1 fps (Charades-STA)."""

    def make(clip_len):
        root = tmp_path_factory.mktemp(f'grounding_{clip_len}')
        make_qvhighlights(root, splits=dict(train=2, val=1),
                          num_clips=(6, 8), clip_len=clip_len, seed=3)
        return root

    return {2.0: make(2.0), 1.0: make(1.0)}


def _grounding_layout(src, dst, name, suffix):
    """Copy the synthetic data under the file names of dataset ``name``."""
    files = GROUNDING_FILES[name]
    for split, fname in zip(('train', 'val', 'val'), files):
        shutil.copy(src / f'qvhighlights_{split}.jsonl', dst / fname)
    for sub in ('clip_b32_vid_k4', 'clip_b32_txt_k4'):
        shutil.copytree(src / sub, dst / sub)
    if suffix:  # TACoS caches are keyed '{vid}-cam-002'
        for path in (dst / 'clip_b32_vid_k4').glob('*.npy'):
            path.rename(path.with_name(path.stem + suffix + '.npy'))


def _highlight_layout(dst, benchmark, domain, rng):
    """The official youtube/tvsum annotation json + caches for (at most 2
    of the val videos of) a domain; returns their ids."""
    vids = load_splits(benchmark)[domain]['val'][:2]
    labels = {}
    with DirectoryWriter(dst / 'clip_b32_vid_k4') as vw, \
            DirectoryWriter(dst / 'clip_b32_txt_k4') as qw:
        for vid in vids:
            t = 7
            vw.add(vid, rng.standard_normal((t, 4, 50, 768)).astype(
                np.float16))
            qw.add(vid, rng.standard_normal((5, 4, 512)).astype(np.float16))
            if benchmark == 'youtube':
                labels[vid] = dict(match=[1, -1, 1, -1, -1, 1, -1])
            else:
                labels[vid] = dict(anno=rng.integers(1, 6, (t, 20)).tolist())
    (dst / f'{benchmark}_anno.json').write_text(json.dumps(labels))
    return vids


def _loader_dataset(cfg, name):
    ds = cfg[name].dataset
    return ds.dataset if ds.type == 'RepeatDataset' else ds


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_model_and_datasets(config, grounding_root, tmp_path):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    name = osp.basename(config)[:-3].split('_')[-1]
    rng = np.random.default_rng(0)
    if name.startswith(('youtube', 'tvsum')):
        benchmark, domain = name.split('-')
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):  # the domain its name abbreviates
            assert _loader_dataset(cfg, loader).domain.lower().startswith(
                domain), loader
        vids = _highlight_layout(
            tmp_path, benchmark,
            _loader_dataset(cfg, 'train_dataloader').domain, rng)
        sizes = (len(vids), len(vids))  # train and val read the val list
    else:
        suffix = _loader_dataset(cfg, 'val_dataloader').get('vid_suffix', '')
        clip_len = _loader_dataset(cfg, 'val_dataloader').ann_kwargs.clip_len
        _grounding_layout(grounding_root[clip_len], tmp_path, name, suffix)
        sizes = (4, 2)  # 2 train / 1 val videos, 2 queries each
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds_cfg = _loader_dataset(cfg, loader)
        ds_cfg.data_root = str(tmp_path)
    model = MODELS.build(cfg.model)
    assert model.video_dims == 768 and model.num_tokens == 50
    train = DATASETS.build(_loader_dataset(cfg, 'train_dataloader'))
    val = DATASETS.build(_loader_dataset(cfg, 'val_dataloader'))
    assert (len(train), len(val)) == sizes  # every record written
    for i in range(len(train)):  # the sampled positive clip is positive
        sample = train[i]['data_samples']
        assert sample.saliency[sample.pos_clip] > 0
    batch = pseudo_collate([train[i] for i in range(min(2, len(train)))])
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total > 0, losses
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(
            pseudo_collate([val[0]]), False), mode='predict')
    assert len(out[0].pred_saliency_scores) == val[0]['inputs'][
        'video'].shape[0]
    if model.coord_head is not None:
        assert len(out[0].pred_relevant_windows[0]) == 3


@pytest.mark.parametrize('suffix, engine', [
    ('_deepspeed-zero2.py', 'DeepSpeedStrategy'), ('_fsdp.py', 'FSDPStrategy')
])
def test_scale_out_variants_keep_the_recipe_and_the_total_batch(
        suffix, engine):
    name = 'r2_tuning_clip-b32_8xb16-30e_qvhighlights' + suffix
    variant = Config.fromfile(osp.join(REPO, 'configs', 'r2_tuning', name))
    recipe = Config.fromfile(QVHIGHLIGHTS)
    assert variant.strategy.type == engine
    assert 8 * variant.train_dataloader.batch_size == \
        recipe.train_dataloader.batch_size == 128  # so the same lr
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                'val_dataloader', 'val_evaluator'):
        assert variant[key] == recipe[key], key


def test_all_official_configs_are_present():
    names = {osp.basename(c) for c in CONFIGS}
    assert len([n for n in names if 'youtube' in n]) == 6
    assert len([n for n in names if 'tvsum' in n]) == 10
    for dataset in ('qvhighlights', 'ego4d-nlq', 'charades-sta', 'tacos'):
        assert any(n.endswith(f'_{dataset}.py') for n in names), dataset


@pytest.mark.parametrize('name,lr,epochs,dropout,sal,nms,unit', [
    ('r2_tuning_clip-b32_1xb128-30e_qvhighlights.py', 5e-4, 30, 0.5, 0.1,
     'normal', 2.0),
    ('r2_tuning_clip-b32_1xb32-30e_ego4d-nlq.py', 2.5e-4, 30, 0.3, 0.1,
     'linear', None),
    ('r2_tuning_clip-b32_1xb32-50e_charades-sta.py', 2.5e-4, 50, 0.35, 0.01,
     'linear', 0.1),
    ('r2_tuning_clip-b32_1xb32-100e_tacos.py', 2.5e-4, 100, 0.5, 0.05,
     'linear', None),
])
def test_official_hyper_parameters(name, lr, epochs, dropout, sal, nms,
                                   unit):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'r2_tuning', name))
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.model.dropout == dropout
    assert cfg.model.loss_cfg.loss_weights.loss_sal == sal
    assert cfg.model.test_cfg.nms_cfg.type == nms
    assert cfg.model.test_cfg.unit == unit
    warmup = cfg.param_scheduler[0]
    assert (warmup.type, warmup.by_epoch, warmup.end,
            warmup.start_factor) == ('LinearLR', False, 500, 0.001)
