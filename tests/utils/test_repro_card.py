"""vtg_plugins.utils.repro_card on real tiny runs (tools/train.py's steps,
in this process): the smoke config with and without accumulation and
--auto-scale-lr, and the R²-Tuning tiny config on synthetic features."""
import hashlib
import importlib.util
import subprocess
from pathlib import Path

import mmengine
import pytest
import torch
from mmengine.config import Config

import vtg_plugins
from vtg_plugins.testing import make_qvhighlights
from vtg_plugins.utils import launch
from vtg_plugins.utils.repro_card import (build_card, card_of_checkpoint,
                                          compare_recipes, format_card,
                                          lr_warnings)

from ..conftest import REPO, SMOKE_CONFIG

R2_TINY = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py'


def _train_tool():
    spec = importlib.util.spec_from_file_location('_train_tool',
                                                  REPO / 'tools' / 'train.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(argv):
    """What ``tools/train.py ARGV`` does; returns the trained runner."""
    tool = _train_tool()
    args = tool.parse_args([str(a) for a in argv])
    cfg = tool.merge_args(
        launch.load_config(args.config, args.cfg_options), args)
    launch.lint_config(cfg, args.config, args.cfg_options)
    runner = launch.build_runner(cfg)
    runner.train()
    return runner


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def smoke_runs(tmp_path_factory):
    """The smoke config as it is, and at 8 per GPU, 2 steps accumulated,
    with --auto-scale-lr (base batch 4); one epoch each."""
    root = tmp_path_factory.mktemp('smoke')
    epoch = ['--cfg-options', 'train_cfg.max_epochs=1']
    plain = train([SMOKE_CONFIG, '--work-dir', root / 'plain', *epoch])
    scaled = train([
        SMOKE_CONFIG, '--work-dir', root / 'scaled', '--auto-scale-lr', *epoch,
        'train_dataloader.batch_size=8', 'optim_wrapper.accumulative_counts=2'
    ])
    return plain, scaled


def test_smoke_card_method_config_seed_and_versions(smoke_runs):
    runner, _ = smoke_runs
    card = build_card(runner)
    assert card['method'] == dict(
        project=None,
        package='vtg_plugins.testing.toy',
        version=None,
        model='ToyRegressor')
    # the hash is that of the config MMEngine dumped and saved
    dumped = Path(runner.work_dir) / SMOKE_CONFIG.name
    assert card['config']['sha256'] == _sha256(dumped)
    ckpt = torch.load(
        Path(runner.work_dir) / 'epoch_1.pth', weights_only=False)
    assert card['config']['sha256'] == hashlib.sha256(
        ckpt['meta']['cfg'].encode()).hexdigest()
    assert card['config']['file'] == str(SMOKE_CONFIG)
    assert card['randomness'] == dict(
        seed=0, deterministic=False, diff_rank_seed=False)
    assert card['splits']['train'] == [dict(type='ToyRegressionDataset')]
    assert card['splits']['val'] == card['splits']['test']
    assert card['feature_recipes'] == {}
    assert card['feature_recipes_sha256'] is None
    assert card['engine'] == dict(
        runner='Runner',
        strategy='single process',
        launcher='none',
        optim_wrapper='OptimWrapper',
        precision='fp32')
    assert card['code']['vtg_plugins'] == vtg_plugins.__version__
    head = subprocess.run(
        ['git', '-C', str(REPO), 'rev-parse', 'HEAD'],
        capture_output=True,
        text=True)
    if head.returncode == 0:  # a git checkout
        assert card['code']['git']['commit'] == head.stdout.strip()
        assert isinstance(card['code']['git']['dirty'], bool)
    assert card['stack']['mmengine'] == mmengine.__version__
    assert card['stack']['torch'].split('+')[0] == \
        torch.__version__.split('+')[0]
    text = format_card(card)
    assert card['config']['sha256'] in text
    assert '1 GPU(s) x 4 x 1 accumulated = 4\n' in text
    assert '1xb4: matches the run' in text
    assert '0.05 -> 0.05 (auto_scale_lr off)' in text


def test_smoke_card_batch_and_lr_as_configured(smoke_runs):
    card = build_card(smoke_runs[0])
    assert card['batch'] == dict(
        world_size=1,
        per_gpu=4,
        accumulation=1,
        accumulation_from='optim_wrapper.accumulative_counts',
        global_batch=4,
        name=dict(field='1xb4', matches=True))
    assert card['lr'] == dict(
        base=0.05,
        auto_scale_lr=dict(enable=False, base_batch_size=4, ratio=1.0),
        scaled=0.05,
        optimizer=[0.05])
    assert card['warnings'] == []


def test_accumulation_counts_in_the_global_batch_not_in_the_lr(smoke_runs):
    card = build_card(smoke_runs[1])
    batch = card['batch']
    assert (batch['per_gpu'], batch['accumulation']) == (8, 2)
    assert batch['global_batch'] == 16
    assert batch['name'] == dict(field='1xb4', matches=False)
    # MMEngine scales by GPUs x per-GPU batch / base_batch_size = 8 / 4
    lr = card['lr']
    assert lr['auto_scale_lr'] == dict(
        enable=True, base_batch_size=4, ratio=2.0)
    assert lr['scaled'] == pytest.approx(0.1)
    assert lr['optimizer'] == [pytest.approx(0.1)]  # what the runner did
    assert card['warnings'] == []
    text = format_card(card)
    assert '1 GPU(s) x 8 x 2 accumulated = 16\n' in text
    assert '1xb4: does NOT match the run' in text
    assert '0.05 -> 0.1 (auto_scale_lr x 2, base batch 4)' in text


@pytest.fixture(scope='module')
def r2_run(tmp_path_factory):
    """The R²-Tuning tiny config, one epoch on synthetic features at its
    widths, run from a folder holding its relative data root."""
    folder = tmp_path_factory.mktemp('r2')
    arch = Config.fromfile(str(R2_TINY)).model.arch
    data = make_qvhighlights(
        folder / 'data' / 'demo_qvhighlights',
        splits=dict(train=4, val=2),
        num_clips=(6, 8),
        num_tokens=arch.num_tokens,
        vis_dim=arch.video_dims,
        txt_dim=arch.query_dims,
        seed=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        runner = train([
            R2_TINY, '--work-dir', folder / 'wd', '--no-validate',
            '--cfg-options', 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=8'
        ])
    return runner, data


def test_r2_card_holds_the_stores_recipes(r2_run):
    runner, data = r2_run
    card = build_card(runner)
    assert card['method']['project'] == 'r2_tuning'
    assert card['method']['package'] == 'vtg_r2_tuning'
    assert card['method']['model'] == 'R2Tuning'
    assert card['code']['project'].startswith('vtg_r2_tuning ')
    video = card['feature_recipes']['video']
    assert video['recipe'] == data.recipe
    assert video['source'].endswith('clip_b32_vid_k4/meta.json')
    query = card['feature_recipes']['query']
    assert query['recipe']['text_tokens'] == 'sot_eot_last_k'
    assert query['source'].endswith('clip_b32_txt_k4/meta.json')
    assert len(card['feature_recipes_sha256']) == 64
    # FeatureRecipeHook's meta and the card agree
    ckpt = torch.load(
        Path(runner.work_dir) / 'epoch_1.pth', weights_only=False)
    assert ckpt['meta']['feature_recipe'] == video['recipe']
    train_split, = card['splits']['train']
    assert train_split == dict(
        type='GroundingDataset',
        data_root='data/demo_qvhighlights/',
        ann_file='qvhighlights_train.jsonl',
        ann_format='qvhighlights',
        video_store='clip_b32_vid_k4',
        query_store='clip_b32_txt_k4')
    assert card['splits']['val'] is None  # --no-validate
    assert card['splits']['test'][0]['ann_file'] == 'qvhighlights_val.jsonl'
    assert card['batch']['name'] == dict(field='1xb32', matches=False)
    assert card['lr']['base'] == runner.cfg.optim_wrapper.optimizer.lr


def test_recipe_comparison_finds_a_changed_field(r2_run):
    runner, _ = r2_run
    card = build_card(runner)
    cfg = Config.fromfile(str(R2_TINY))
    assert compare_recipes(card, cfg) == []
    cfg.test_dataloader.dataset.recipe.crop = 336
    cfg.test_dataloader.dataset.query_recipe.text_normalizer = 'lower'
    assert compare_recipes(card, cfg) == [
        'test dataset qvhighlights_val.jsonl: query recipe text_normalizer: '
        "trained on None, the config states 'lower'",
        'test dataset qvhighlights_val.jsonl: video recipe crop: trained on '
        '224, the config states 336',
    ]
    del cfg.test_dataloader.dataset['recipe']
    del cfg.test_dataloader.dataset['query_recipe']
    diffs = compare_recipes(card, cfg)
    assert len(diffs) == 2
    assert all('the config states no' in d for d in diffs)


def test_a_checkpoint_without_card_compares_its_feature_recipe(r2_run):
    runner, data = r2_run
    assert card_of_checkpoint({}) is None
    partial = card_of_checkpoint(dict(feature_recipe=dict(data.recipe)))
    assert partial['partial']
    cfg = Config.fromfile(str(R2_TINY))
    diff, = compare_recipes(partial, cfg)
    assert diff.startswith('test dataset qvhighlights_val.jsonl: the '
                           'checkpoint records no query recipe to check')
    cfg.test_dataloader.dataset.recipe.dtype = 'float32'
    assert 'video recipe dtype: trained on \'float16\', the config ' \
        "states 'float32'" in compare_recipes(partial, cfg)[1]


def test_an_engine_that_ignores_auto_scale_lr_is_warned_about():
    lr = dict(
        base=0.05,
        auto_scale_lr=dict(enable=True, base_batch_size=4, ratio=2.0),
        scaled=0.1,
        optimizer=[0.05])
    warning, = lr_warnings(lr)
    assert 'asks for lr 0.1 (0.05 x 2)' in warning
    assert 'start at [0.05]' in warning
    assert lr_warnings(dict(lr, optimizer=[0.01, 0.1000000001])) == []
    off = dict(lr['auto_scale_lr'], enable=False)
    assert lr_warnings(dict(lr, auto_scale_lr=off)) == []


def test_a_batch_sampler_gives_the_per_gpu_batch():
    """A loader built from a batch sampler (TSTL's class-balanced one) has
    no ``batch_size``; the card takes the sampler's."""
    from types import SimpleNamespace

    from mmengine.config import Config
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    from vtg_plugins.utils.repro_card import _batch
    data = list(range(12))
    loader = DataLoader(
        data,
        batch_sampler=BatchSampler(SequentialSampler(data), 3, False))
    assert loader.batch_size is None
    runner = SimpleNamespace(world_size=2, train_dataloader=loader)
    batch = _batch(runner, Config(dict(optim_wrapper=dict())))
    assert (batch['per_gpu'], batch['global_batch']) == (3, 6)
