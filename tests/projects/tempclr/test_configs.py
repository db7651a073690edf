"""The TempCLR entry configs hold the official values (configs/how2.yaml,
crosstask.yaml and test_*.yaml of yyuncong/TempCLR), their schedules give
fairseq's polynomial-decay learning rates, and every model they describe
builds (with a tiny BERT: the full-size towers are not built here)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import vtg_tempclr  # noqa: F401  (registers TempCLR)
from vtg_plugins.registry import MODELS, PARAM_SCHEDULERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
CFG_DIR = osp.join(REPO, 'configs', 'tempclr')
COLLATE = 'vtg_tempclr.datasets.collate.tempclr_collate'
PRETRAIN = {
    'tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py': ('dtw',
                                                              'layernorm'),
    'tempclr_videoclip-otam-layernorm_1xb1-10e_howto100m.py': ('otam',
                                                               'layernorm'),
    'tempclr_videoclip-dtw-all_1xb1-10e_howto100m.py': ('dtw', 'all'),
    'tempclr_videoclip-otam-all_1xb1-10e_howto100m.py': ('otam', 'all'),
}
DEEPSPEED = 'tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m_deepspeed-fp16.py'
CROSSTASK = 'tempclr_videoclip-dtw_1xb1-20e_crosstask.py'
TINY_BERT = dict(
    vocab_size=128,  # holds bert-base-uncased [CLS] 101 and [SEP] 102
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64)


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CFG_DIR, name))


def _entry_configs():
    return sorted(
        osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, '*.py')))


def _lr_at(cfg: Config, updates) -> list:
    """The learning rate after each of ``updates`` optimizer steps."""
    model = torch.nn.Linear(1, 1)
    wrapper_cfg = dict(
        type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer)
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
        for s in cfg.param_scheduler
    ]
    lrs, done = [], 0
    for target in updates:
        while done < target:
            wrapper.step()
            for s in schedulers:
                s.step()
            done += 1
        lrs.append(wrapper.get_lr()['lr'][0])
    return lrs


def _fairseq_lr(lr: float, warmup: int, total: int, update: int) -> float:
    """fairseq's polynomial_decay (power 1, end_learning_rate 0) after
    ``update`` updates; before the first, its initial ``lr / warmup``."""
    if update == 0:
        return lr / warmup
    if update <= warmup:
        return lr * update / warmup
    return lr * (1 - (update - warmup) / (total - warmup))


@pytest.mark.parametrize('name', sorted(PRETRAIN))
def test_pretraining_configs_hold_how2_yaml(name):
    cfg = _load(name)
    metric, trainable = PRETRAIN[name]
    model = cfg.model
    assert model.type == 'TempCLRDualEncoder'
    assert model.bert_config == {} and model.video_layers == 6
    assert (model.input_dim, model.max_video_len) == (512, 32)
    assert model.trainable == trainable
    assert model.alignment_loss_weight == 0.7
    loss = model.alignment_loss
    assert (loss.type, loss.metric) == ('TemporalAlignmentLoss', metric)
    assert (loss.clip_per_video, loss.sampling_threshold,
            loss.total_sample_size) == (16, 5, 32)
    assert (loss.lbda, loss.eps) == (0.1, 0.01)
    assert model.init_cfg.checkpoint.endswith('checkpoint_best.pth')
    data = cfg.train_dataloader
    assert data.batch_size == 1 and data.collate_fn.type == COLLATE
    assert not data.persistent_workers  # the hook regroups between epochs
    ds = data.dataset
    assert (ds.num_video_per_batch, ds.clip_per_video) == (16, 16)
    assert (ds.max_video_len, ds.max_len) == (32, 96)
    assert (ds.sampled_min_len, ds.sampled_max_len) == (8, 64)
    assert (ds.sampled_video_min_len, ds.sampled_video_max_len) == (3, 32)
    hook, = cfg.custom_hooks
    assert (hook.type, hook.begin_epoch, hook.num_cands) == (
        'RetrievalBatchingHook', 1, 64)
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper' and optim.dtype == 'float16'
    assert optim.clip_grad == dict(max_norm=2.0)
    assert dict(optim.optimizer) == dict(
        type='Adam', lr=2e-5, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.test_dataloader.dataset.type == 'YouCook2RetrievalDataset'


@pytest.mark.parametrize('name,warmup,lr', [
    ('tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py', 1000, 2e-5),
    (CROSSTASK, 122, 5e-5),
])
def test_schedules_give_fairseq_polynomial_decay(name, warmup, lr):
    cfg = _load(name)
    init_default_scope(cfg.default_scope)
    updates = [0, 1, warmup // 2, warmup, warmup + 1, warmup + 5000]
    got = _lr_at(cfg, updates)
    for update, value in zip(updates, got):
        want = _fairseq_lr(lr, warmup, 1000000, update)
        assert value == pytest.approx(want, rel=1e-6, abs=1e-14), update


def test_crosstask_config_holds_crosstask_yaml():
    cfg = _load(CROSSTASK)
    model = cfg.model
    assert model.type == 'TempCLRStepLocalizer' and model.trainable == 'all'
    assert model.alignment_loss_weight == 0.12
    loss = model.step_alignment_loss
    assert (loss.metric, loss.total_sample_size,
            loss.video_sampling_multiplier, loss.inner_shuffling) == ('dtw',
                                                                     32, 10,
                                                                     True)
    assert cfg.optim_wrapper.optimizer.lr == 5e-5
    assert cfg.train_cfg.max_epochs == 20
    for split, loader in (('train', cfg.train_dataloader),
                          ('test', cfg.test_dataloader)):
        ds = loader.dataset
        assert ds.split == split and loader.batch_size == 1
        assert (ds.n_train, ds.seed) == (30, 0)
        assert (ds.sliding_window, ds.sliding_window_size) == (16, 32)
    assert cfg.test_evaluator.type == 'CrossTaskMetric'


def test_zero_shot_configs_test_what_the_official_yaml_test():
    youcook2 = _load('tempclr_videoclip-zeroshot_1xb256_youcook2.py')
    assert youcook2.test_dataloader.batch_size == 256
    assert youcook2.test_dataloader.dataset.use_annotation_text
    assert [(e.type, e.protocol) for e in youcook2.test_evaluator] == [
        ('TextVideoRetrievalMetric', 'tempclr'),
        ('FullVideoRetrievalMetric', 'exact')]
    official = _load('tempclr_videoclip-zeroshot_1xb256_youcook2-official.py')
    assert official.test_evaluator[1].protocol == 'official'
    msrvtt = _load('tempclr_videoclip-zeroshot_1xb256_msrvtt.py')
    assert msrvtt.test_evaluator.protocol == 'tempclr'
    crosstask = _load('tempclr_videoclip-zeroshot_1xb1_crosstask.py')
    assert crosstask.test_dataloader.dataset.split == 'test'
    assert crosstask.model.type == 'TempCLRStepLocalizer'


def test_deepspeed_variant_keeps_the_recipe():
    cfg = _load(DEEPSPEED)
    strategy = cfg.strategy
    assert strategy.type == 'DeepSpeedStrategy'
    assert strategy.fp16.enabled and strategy.gradient_clipping == 2.0
    assert strategy.zero_optimization.stage == 2
    # float tensors only (vtg_plugins.compat): the caption ids stay ints
    assert strategy.inputs_to_half == ['inputs']
    assert strategy.train_micro_batch_size_per_gpu == 1
    optim = cfg.optim_wrapper
    assert optim.type == 'DeepSpeedOptimWrapper'
    assert optim.optimizer.lr == 2e-5
    assert tuple(optim.optimizer.betas) == (0.9, 0.98)


def _tiny(model: dict) -> dict:
    """``model`` with every BERT config replaced by a tiny one and no
    checkpoint to load."""
    if isinstance(model, dict):
        out = {}
        for key, value in model.items():
            if key == 'bert_config':
                out[key] = dict(value, **TINY_BERT)
            elif key in ('init_cfg', 'checkpoint'):
                continue
            else:
                out[key] = _tiny(value)
        return out
    return model


@pytest.mark.parametrize('name', _entry_configs())
def test_every_model_builds(name):
    cfg = _load(name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(_tiny(cfg.model.to_dict()))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    if cfg.model.get('trainable') == 'layernorm':
        assert all('LayerNorm' in n for n in trainable), trainable
