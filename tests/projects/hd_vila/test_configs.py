"""The HD-VILA entry configs hold the official values (written out in
official_configs.py from microsoft/XPretrain hd-vila/src/configs/*.json and
the README), their pipelines are the data helper's official loaders, and
every model, optimizer wrapper and schedule they describe builds (with tiny
sizes substituted: the full-size towers are not built here)."""
import glob
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_hd_vila.datasets import hd_vila_pipeline, hd_vila_pretrain_pipeline
from vtg_plugins.registry import MODELS, PARAM_SCHEDULERS
from vtg_plugins.utils.config_name import parse_config_name

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CFG_DIR = osp.join(REPO, 'configs', 'hd_vila')
COLLATE = 'vtg_hd_vila.datasets.collate.hd_vila_collate'


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OFFICIAL = _load_module(
    '_hd_vila_official_configs',
    osp.join(osp.dirname(osp.abspath(__file__)),
             'official_configs.py')).OFFICIAL
DEEPSPEED = 'hd_vila_stage2_64xb16-10e_hdvila100m_deepspeed-zero2-fp16.py'
FSDP = 'hd_vila_stage2_64xb16-10e_hdvila100m_fsdp.py'
MSRVTT_MC = 'hd_vila_retrieval_8xb64_msrvtt-mc.py'
TINY = ('hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py',
        'hd_vila_tiny-video-qa_1xb2-2e_synthetic-frameqa.py')
TINY_BERT = dict(
    vocab_size=42,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64)
TINY_ENCODER = dict(
    hidden_size=16,
    resnet_depth=18,
    timesformer_depth=1,
    timesformer_heads=2,
    cnn_checkpoint=None)
BERT_LARGE = dict(
    vocab_size=30522,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    hidden_act='gelu',
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=2,
    initializer_range=0.02,
    layer_norm_eps=1e-12,
    pad_token_id=0,
    max_grid_row_position_embeddings=100,
    max_grid_col_position_embeddings=100)


def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CFG_DIR, name))


def _entry_configs():
    return sorted(
        osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, '*.py')))


def _datasets(loader):
    """The dataset configs of a loader (a ConcatDataset's parts)."""
    dataset = loader.dataset
    return dataset.datasets if dataset.type == 'ConcatDataset' else [dataset]


def _step(pipeline, kind):
    found = [t for t in pipeline if t['type'] == kind]
    assert len(found) == 1, (kind, pipeline)
    return found[0]


def test_every_entry_config_is_covered():
    assert _entry_configs() == sorted(
        list(OFFICIAL) + [DEEPSPEED, FSDP, MSRVTT_MC, *TINY])


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_training_configs_hold_the_official_values(name):
    cfg, want = _load(name), OFFICIAL[name]
    fields = parse_config_name(name)
    assert (fields.gpus, fields.batch) == (want['gpus'],
                                           want['train_batch_size'])
    assert fields.epochs == want['num_train_epochs']
    assert cfg.train_cfg.max_epochs == want['num_train_epochs']
    assert cfg.train_cfg.val_interval == 1
    assert cfg.randomness.seed == want['seed']
    for split in ('train', 'val'):
        loader = cfg[f'{split}_dataloader']
        assert loader.batch_size == want[f'{split}_batch_size'], split
        assert loader.collate_fn.type == COLLATE
        for dataset in _datasets(loader):
            assert dataset.max_txt_len == want['max_txt_len']
    if 'test_batch_size' in want:
        assert cfg.test_dataloader.batch_size == want['test_batch_size']

    optim = cfg.optim_wrapper
    assert (optim.type, optim.dtype,
            optim.loss_scale) == ('AmpOptimWrapper', 'float16', 'dynamic'
                                  )  # fp16 1
    assert optim.constructor == 'HDVILAOptimWrapperConstructor'
    assert optim.clip_grad == dict(max_norm=want['grad_norm'])
    assert optim.accumulative_counts == want['accumulate']
    assert dict(optim.optimizer) == dict(
        type='HDVILAAdamW',
        lr=want['learning_rate'],
        betas=want['betas'],
        eps=1e-6,
        weight_decay=want['weight_decay'])
    assert dict(optim.paramwise_cfg) == dict(
        cnn_lr=want['cnn_learning_rate'],
        cnn_weight_decay=want['cnn_weight_decay'],
        align_lr=want['align_learning_rate'],
        align_weight_decay=want['align_weight_decay'])
    sched, = cfg.param_scheduler
    assert sched.type == 'HDVILAWarmupDecayLR'
    assert sched.decay == want['decay']
    assert sched.warmup_ratio == want['warmup_ratio']
    assert sched.accumulative_counts == want['accumulate']
    assert sched.get('milestones', []) == want.get('step_decay_epochs', [])
    assert sched.get('gamma', 0.5) == 0.5
    assert sched.by_epoch and sched.convert_to_iter_based

    train_set, *others = _datasets(cfg.train_dataloader)
    assert all(d == dict(train_set, ann_file=d.ann_file) for d in others)
    train = train_set.pipeline
    sample = _step(train, 'SampleHDVILAClips')
    assert (sample.n_clips, sample.num_frm, sample.sample_rate,
            sample.random_clips) == (want['train_n_clips'], want['num_frm'],
                                     want['sample_rate'], True)
    if 'inference_n_clips' in want:
        test = _step(cfg.test_dataloader.dataset.pipeline, 'SampleHDVILAClips')
        assert (test.n_clips, test.random_clips) == (want['inference_n_clips'],
                                                     False)
    if 'max_img_size' in want:
        assert _step(train, 'HDVILAFitPad').max_size == want['max_img_size']
    elif want['crop_size'] == (640, 1024):  # pre-training: 720p windows
        crop = _step(train, 'HDVILAPretrainResizeCrop')
        assert (tuple(crop.frame_size), tuple(crop.crop_size),
                crop.keyframe) == ((720, 1280), want['crop_size'], 'high_res')
    else:
        crop = _step(train, 'HDVILAResizeCrop')
        assert tuple(crop.crop_size) == want['crop_size']
        if 'reshape_size' in want:
            assert tuple(crop.resize_size) == want['reshape_size']

    model = cfg.model
    assert dict(model.bert_config) == BERT_LARGE
    assert 'temp' not in want or model.contrastive_loss.temperature == \
        want['temp']
    for key in ('score_agg_func', 'num_labels', 'pixel_random_sampling_size'):
        if key in want:
            assert model[key] == want[key], key
    if 'task' in want:
        assert train_set.task == want['task']
    if 'vis_format' in want:
        assert train_set.vis_format == want['vis_format']
    assert cfg.auto_scale_lr.base_batch_size == want['gpus'] * \
        want['train_batch_size']


def test_model_specifics():
    stage1 = _load('hd_vila_stage1_64xb8-10e_hdvila100m.py').model
    assert stage1.type == 'HDVILAPretrainStage1'
    assert stage1.contrastive_loss.loss_weight == 0.5  # 0.5 * (t2v + v2t)
    # the converted official start: ResNet-50 (cnn, cnn_low) + BERT-large
    assert stage1.init_cfg.checkpoint == 'checkpoints/hd_vila_stage1_init.pth'
    assert 'cnn_checkpoint' not in stage1.video_encoder
    stage2 = _load('hd_vila_stage2_64xb16-10e_hdvila100m.py').model
    assert (stage2.type, stage2.freeze_stage1, stage2.use_itm,
            stage2.mlm_probability) == ('HDVILAPretrainStage2', True, False,
                                        0.15)
    # the converted official start, then the stage-1 run over it (the
    # official order: load_separate_ckpt, then e2e_weights_path)
    assert [c.checkpoint for c in stage2.init_cfg] == [
        'checkpoints/hd_vila_stage2_init.pth',
        'work_dirs/hd_vila_stage1_64xb8-10e_hdvila100m/epoch_10.pth'
    ]
    retrieval = _load('hd_vila_retrieval_8xb8-200e_msrvtt.py').model
    assert retrieval.type == 'HDVILARetrieval'
    assert retrieval.contrastive_loss.loss_weight == 1.0
    action = _load('hd_vila_multiple-choice_8xb12-80e_tgif-action.py')
    assert action.model.type == 'HDVILAMultipleChoice'
    assert action.train_dataloader.dataset.num_options == 5
    encoder = retrieval.video_encoder
    assert (encoder.hidden_size, encoder.resnet_depth,
            encoder.resnet_frozen_stage, encoder.timesformer_depth,
            encoder.timesformer_heads) == (1024, 50, -1, 4, 16)


def test_msrvtt_mc_is_the_retrieval_model_at_inference():
    cfg = _load(MSRVTT_MC)
    assert cfg.model.type == 'HDVILARetrievalMultipleChoice'
    assert 'train_dataloader' not in cfg and 'val_dataloader' not in cfg
    fields = parse_config_name(MSRVTT_MC)
    assert (fields.gpus, fields.batch, fields.epochs) == (8, 64, None)
    loader = cfg.test_dataloader
    assert loader.batch_size == 64  # --inference_batch_size 64
    assert loader.dataset.type == 'HDVILAMSRVTTMCDataset'
    assert loader.dataset.max_txt_len == 50
    assert loader.dataset.pipeline == hd_vila_pipeline('video', False, 4)
    assert cfg.test_evaluator.type == 'MultipleChoiceMetric'


@pytest.mark.parametrize('name,source,kwargs', [
    ('hd_vila_retrieval_8xb8-200e_msrvtt.py', 'video',
     dict(train=(2, ), test=(4, ))),
    ('hd_vila_retrieval_8xb4-100e_didemo.py', 'frame',
     dict(train=(4, ), test=(8, ), num_frm=11, sample_rate=2)),
    ('hd_vila_retrieval_8xb8-20e_lsmdc.py', 'frame',
     dict(train=(2, ), test=(4, ), num_frm=11, sample_rate=3)),
    ('hd_vila_retrieval_8xb4-100e_activitynet.py', 'frame',
     dict(train=(4, ), test=(8, ), num_frm=13, sample_rate=4)),
    ('hd_vila_multiple-choice_8xb12-80e_tgif-action.py', 'gif',
     dict(train=(1, ), val=(1, True), test=(8, ))),
    ('hd_vila_video-qa_8xb14-40e_tgif-frame.py', 'gif',
     dict(train=(1, ), val=(1, True), test=(8, ))),
    ('hd_vila_video-qa_8xb16-20e_msrvtt-qa.py', 'video',
     dict(train=(1, ), val=(1, True), test=(8, ))),
])
def test_pipelines_are_the_official_loaders(name, source, kwargs):
    """Each loader's transforms are ``hd_vila_pipeline``'s (the data
    helper's official loaders) in that split's mode."""
    cfg, kwargs = _load(name), dict(kwargs)
    splits = {
        s: kwargs.pop(s)
        for s in ('train', 'val', 'test') if s in kwargs
    }
    if 'val' not in splits and 'test' in splits:
        splits['val'] = splits['test']  # retrieval validates by inference
    for split, args in splits.items():
        n_clips, random_clips = args[0], args[1] if len(args) > 1 else None
        want = hd_vila_pipeline(
            source,
            split == 'train',
            n_clips,
            random_clips=random_clips,
            **kwargs)
        assert cfg[f'{split}_dataloader'].dataset.pipeline == want, split


def test_pretraining_pipelines_are_the_official_loader():
    """Training shards and validation alike: ``hd_vila_pretrain_pipeline``
    (the official loader has one mode), HD-VILA-100M's nested layout and
    MSR-VTT's flat one."""
    for name in ('hd_vila_stage1_64xb8-10e_hdvila100m.py',
                 'hd_vila_stage2_64xb16-10e_hdvila100m.py'):
        cfg = _load(name)
        shards = _datasets(cfg.train_dataloader)
        assert [d.ann_file for d in shards] == [
            f'data/hdvila/train_group/part{i}.jsonl' for i in range(1, 13)
        ]
        for dataset in shards + [cfg.val_dataloader.dataset]:
            assert dataset.type == 'HDVILAPretrainDataset'
            assert dataset.pipeline == hd_vila_pretrain_pipeline()
        assert shards[0].layout == 'nested'
        val = cfg.val_dataloader.dataset
        assert (val.layout,
                val.ann_file) == ('flat',
                                  'data/msrvtt_retrieval/test1ka.jsonl')


def test_deepspeed_variant():
    cfg, base = _load(DEEPSPEED), _load(
        'hd_vila_stage2_64xb16-10e_hdvila100m.py')
    strategy = cfg.strategy
    assert strategy.type == 'DeepSpeedStrategy'
    assert strategy.fp16.enabled and strategy.fp16.loss_scale == 0
    assert strategy.gradient_clipping == 5.0
    assert strategy.zero_optimization.stage == 2
    assert (strategy.train_micro_batch_size_per_gpu,
            strategy.gradient_accumulation_steps) == (16, 2)
    # only the preprocessor's float `inputs`; the ids are on data samples
    assert strategy.inputs_to_half == ['inputs']
    assert strategy.config == dict(
        zero_allow_untested_optimizer=True,
        data_types=dict(buffer_dtype='fp16'))  # BatchNorm statistics
    optim = cfg.optim_wrapper
    assert optim.type == 'DeepSpeedOptimWrapper'
    assert optim.constructor == base.optim_wrapper.constructor
    assert dict(optim.optimizer) == dict(base.optim_wrapper.optimizer)
    assert dict(optim.paramwise_cfg) == dict(base.optim_wrapper.paramwise_cfg)
    assert cfg.param_scheduler == base.param_scheduler
    assert cfg.model == base.model


def _tiny_model_cfg(model: dict) -> dict:
    model = dict(model)
    model['bert_config'] = TINY_BERT
    model['video_encoder'] = dict(
        model['video_encoder'], **TINY_ENCODER, grid_size=(2, 3), num_frames=3)
    model['init_cfg'] = None
    if 'num_labels' in model:
        model['num_labels'] = 3
    if 'mask_token_id' in model:
        model.update(mask_token_id=5, special_token_ids=(0, 1, 2, 3, 4, 5))
    return model


@pytest.mark.parametrize('name', _entry_configs())
def test_models_optimizers_and_schedules_build(name):
    cfg = _load(name)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(_tiny_model_cfg(cfg.model.to_dict()))
    assert sum(p.requires_grad for p in model.parameters()) > 0
    if 'optim_wrapper' not in cfg:
        return
    wrapper_cfg = cfg.optim_wrapper.to_dict()
    wrapper_cfg.update(type='OptimWrapper')  # AMP / DeepSpeed need a GPU
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    if cfg.get('strategy', {}).get('type') == 'DeepSpeedStrategy':
        wrapper_cfg['accumulative_counts'] = \
            cfg.strategy.gradient_accumulation_steps
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    lr = cfg.optim_wrapper.optimizer.lr
    assert wrapper.optimizer.param_groups[0]['lr'] == lr
    for sched in cfg.param_scheduler:
        scheduler = PARAM_SCHEDULERS.build(
            dict(sched, end=cfg.train_cfg.max_epochs),
            default_args=dict(optimizer=wrapper, epoch_length=100))
        # warm-up: the first update gets lr / W
        assert wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(
            lr / scheduler.warmup_updates)


def test_tiny_configs_run_the_recipe_on_cpu():
    for name in TINY:
        cfg = _load(name)
        fields = parse_config_name(name)
        assert (fields.gpus, fields.batch) == (1, 2)
        assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32 on a CPU
        assert cfg.optim_wrapper.constructor == \
            'HDVILAOptimWrapperConstructor'
        assert cfg.optim_wrapper.optimizer.type == 'HDVILAAdamW'
        assert cfg.param_scheduler[0].type == 'HDVILAWarmupDecayLR'
        assert cfg.model.video_encoder.resnet_depth == 18
        assert cfg.model.bert_config.num_hidden_layers == 2
