"""Every TSTL entry config holds the official values (khuvll/CAST
scripts/{ssv2,kinetics,ek100}/*.sh, the UCF101 command of the
saddy-paddy/TSTL README, TSTL's train_selector.py / train_experts.py
defaults), passes the config lint, and its dataset pipelines give the
official views on a real (tiny, upscaled) video. The full-size model is not
built: its fields are checked; the routed config is built with tiny
experts."""
import glob
import hashlib
import importlib.util
import inspect
import os.path as osp
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401  (registers TSTL)
from vtg_plugins.registry import DATASETS, MODELS, TRANSFORMS
from vtg_plugins.testing.action_videos import action_frames, write_frames
from vtg_tstl.datasets.rand_augment import INCREASING_OPS
from vtg_tstl.grouping import load_class_grouping
from vtg_tstl.models import TSTLBackbone

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
CFG_DIR = osp.join(REPO, 'configs', 'tstl')
SSV2_GROUPING = 'configs/tstl/groupings/ssv2_class_grouping.json'
# sha256 of TSTL's class_grouping.json (saddy-paddy/TSTL)
OFFICIAL_GROUPING_SHA256 = \
    '5206f4f92515ef8d4fd30455b7f59ab000f76545fc887187b84b47323eba4f02'


class Official(NamedTuple):
    gpus: int
    batch: int  # --batch_size, per GPU
    accumulate: int  # --update_freq
    epochs: int
    drop_path: float
    mixup_prob: float  # --mixup_prob (--mixup_switch_prob is 0 in all)
    dataset: str
    num_classes: Union[int, Tuple[int, int]]  # (nouns, verbs) for EK100
    save_every: int  # --save_ckpt_freq
    precision: Optional[str] = None  # amp / DeepSpeed bf16 / fp16 / fsdp


SSV2 = Official(16, 6, 4, 50, 0.3, 0.9, 'ssv2', 174, 25)
OFFICIAL = {
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py': SSV2,
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_amp.py':
    SSV2._replace(precision='amp'),
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_deepspeed-zero2-bf16.py':
    SSV2._replace(precision='bf16'),
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_deepspeed-zero2-fp16.py':
    SSV2._replace(precision='fp16'),
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_fsdp.py':
    SSV2._replace(precision='fsdp'),
    'tstl_clip-videomae-b16-bidir_16xb6-70e_k400.py':
    Official(16, 6, 6, 70, 0.2, 0.5, 'k400', 400, 25),
    'tstl_clip-videomae-b16-bidir_16xb8-30e_ucf101.py':
    Official(16, 8, 6, 30, 0.2, 0.5, 'ucf101', 101, 2),
    'tstl_clip-videomae-b16-compo_16xb6-50e_ek100.py':
    Official(16, 6, 4, 50, 0.2, 0.9, 'ek100', (300, 97), 25),
    # TSTL's two stages on one GPU, the 15 groups of class_grouping.json
    'tstl_clip-videomae-b16-selector_1xb8-10e_ssv2.py':
    Official(1, 8, 1, 10, 0.3, 0.9, 'ssv2', 15, 1),
    'tstl_clip-videomae-b16-expert_1xb8-10e_ssv2.py':
    Official(1, 8, 1, 10, 0.3, 0.9, 'ssv2', 174, 1),
}
ROUTED = 'tstl_clip-videomae-b16-routed_1xb1_ssv2.py'  # test only
TINY = {  # no official values: trained by test_e2e.py
    'tstl_tiny_1xb4-6e_synthetic-videos.py',
    'tstl_tiny-selector_1xb4-6e_synthetic-videos.py',
    'tstl_tiny-expert_1xb4-6e_synthetic-videos.py',
    'tstl_tiny-routed_1xb2_synthetic-videos.py',
}
# --test_num_segment x --test_num_crop
VIEWS = dict(ssv2=(2, 3), ek100=(2, 3), ucf101=(5, 3), k400=(5, 3))
# the official loaders' frame sampling (see vtg_tstl.datasets.sampling)
SAMPLING = dict(
    ssv2=('SegmentSampleFrames', dict(num_segments=16, end_margin=0)),
    ek100=('SegmentSampleFrames', dict(num_segments=16, end_margin=0)),
    ucf101=('SegmentSampleFrames', dict(num_segments=16, end_margin=4)),
    k400=('DenseSampleFrames', dict(clip_len=16, frame_interval=4)))
FLIPPED = dict(ssv2=False, ek100=True, ucf101=True, k400=True)
DATASET_TYPE = dict(ssv2='TSTLVideoDataset', ucf101='TSTLVideoDataset',
                    k400='TSTLVideoDataset', ek100='EpicKitchensDataset')
# bidir_vit_base_patch16_224 (--input_size 224, --num_frames 16, ...)
ARCH = dict(type='TSTLBackbone', img_size=224, patch_size=16, embed_dim=768,
            depth=12, num_heads=12, mlp_ratio=4.0, down_ratio=2,
            num_frames=16, tubelet_size=2, qkv_bias=True, drop_rate=0.0,
            attn_drop_rate=0.0)


def _cfg(name: str) -> Config:
    return Config.fromfile(osp.join(CFG_DIR, name))


def _dataset(loader: dict) -> dict:
    """The recognition dataset of a loader (inside ``GroupLabelDataset``)."""
    ds = loader.dataset
    return ds.dataset if ds.type == 'GroupLabelDataset' else ds


def _step(pipeline, kind: str) -> Optional[dict]:
    steps = [t for t in pipeline if t.type == kind]
    assert len(steps) <= 1, (kind, pipeline)
    return steps[0] if steps else None


def test_every_entry_config_is_in_the_table():
    names = {osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, '*.py'))}
    assert names == set(OFFICIAL) | {ROUTED} | TINY


@pytest.fixture(scope='module')
def lint_tool():
    path = osp.join(REPO, 'tools', 'analysis', 'check_config.py')
    spec = importlib.util.spec_from_file_location('tstl_check_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('name', sorted(set(OFFICIAL) | {ROUTED} | TINY))
def test_config_passes_the_lint(name, lint_tool, capsys):
    path = osp.join(CFG_DIR, name)
    assert lint_tool.check_one(path, None), capsys.readouterr().out
    assert capsys.readouterr().out.startswith(f'ok {path}')


def _check_optimisation(cfg: Config, o: Official) -> None:
    total = o.gpus * o.batch * o.accumulate
    wrapper = cfg.optim_wrapper
    if o.precision in ('bf16', 'fp16'):  # accumulation inside DeepSpeed
        strategy = cfg.strategy
        assert strategy.type == 'DeepSpeedStrategy'
        assert strategy.zero_optimization.stage == 2
        assert strategy.train_micro_batch_size_per_gpu == o.batch
        assert strategy.gradient_accumulation_steps == o.accumulate
        assert wrapper.type == 'DeepSpeedOptimWrapper'
        assert 'accumulative_counts' not in wrapper
        if o.precision == 'fp16':  # util_tools/utils.py create_ds_config
            assert strategy.fp16 == dict(enabled=True, loss_scale=0,
                                         initial_scale_power=7,
                                         loss_scale_window=128)
            assert 'bf16' not in strategy
        else:
            assert strategy.bf16 == dict(enabled=True)
            assert not strategy.fp16.enabled
    else:  # tools/train.py fits the wrapper to FSDP (global-norm clips)
        if o.precision == 'fsdp':
            assert cfg.strategy.type == 'FSDPStrategy'
            assert cfg.strategy.model_wrapper.mixed_precision.param_dtype \
                == 'bfloat16'
        else:
            assert 'strategy' not in cfg
        assert wrapper.type == ('AmpOptimWrapper'
                                if o.precision == 'amp' else 'OptimWrapper')
        assert wrapper.accumulative_counts == o.accumulate
    assert wrapper.constructor == 'TSTLLayerDecayOptimWrapperConstructor'
    assert wrapper.paramwise_cfg == dict(layer_decay_rate=0.75)
    assert 'clip_grad' not in wrapper  # --clip_grad None
    opt = wrapper.optimizer
    assert (opt.type, tuple(opt.betas), opt.eps, opt.weight_decay) == (
        'AdamW', (0.9, 0.999), 1e-8, 0.05)
    assert opt.lr == pytest.approx(1e-3 * total / 256, rel=1e-12)
    assert cfg.auto_scale_lr.base_batch_size == o.gpus * o.batch
    assert not cfg.auto_scale_lr.enable
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.begin, warm.end) == ('LinearLR', 0, 5)
    assert (cos.type, cos.begin) == ('CosineAnnealingLR', 5)
    assert cos.get('end') in (None, o.epochs)
    assert cos.eta_min_ratio == pytest.approx(1e-6 / 1e-3)  # --min_lr
    assert warm.convert_to_iter_based and cos.convert_to_iter_based
    assert cfg.train_cfg.max_epochs == o.epochs


def _check_model(cfg: Config, o: Official) -> None:
    model = cfg.model
    assert model.type == 'Recognizer3D'
    backbone = model.backbone
    assert {k: backbone[k] for k in ARCH} == ARCH
    assert backbone.drop_path_rate == o.drop_path
    assert backbone.clip_pretrained.endswith('/ViT-B-16.pt')
    # the VideoMAE expert pre-trained on the same dataset
    assert f'_{o.dataset}_pretrain' in backbone.videomae_pretrained
    head, blend = model.cls_head, model.data_preprocessor.blending
    assert head.average_clips == 'prob'
    assert head.in_channels == 768
    assert (head.dropout_ratio, head.init_scale) == (0.0, 1.0)
    if o.dataset == 'ek100':
        nouns, verbs = o.num_classes
        assert head.type == 'TSTLCompoHead'
        assert (head.num_noun_classes, head.num_verb_classes) == (nouns,
                                                                  verbs)
        assert blend.composition and (blend.num_nouns,
                                      blend.num_verbs) == (nouns, verbs)
        assert blend.num_classes == nouns + verbs
    else:
        assert head.type == 'TSTLFusedHead'
        assert head.num_classes == blend.num_classes == o.num_classes
    assert blend.type == 'TSTLMixupCutmixBlending'
    assert (blend.mixup_alpha, blend.cutmix_alpha, blend.prob,
            blend.switch_prob, blend.label_smoothing) == (0.8, 1.0,
                                                          o.mixup_prob, 0.0,
                                                          0.1)
    assert model.data_preprocessor.format_shape == 'NCTHW'


def _check_data(cfg: Config, o: Official) -> None:
    train = _dataset(cfg.train_dataloader)
    assert cfg.train_dataloader.batch_size == o.batch
    assert train.type == DATASET_TYPE[o.dataset]
    kind, params = SAMPLING[o.dataset]
    clips, crops = VIEWS[o.dataset]
    for loader, views in (('train', None), ('val', (1, 1)),
                          ('test', (clips, crops))):
        pipeline = _dataset(cfg[f'{loader}_dataloader']).pipeline
        sampler = _step(pipeline, kind)
        # end_margin only moves the random train offsets
        expect = params if views is None else {
            k: v for k, v in params.items() if k != 'end_margin'}
        assert {k: sampler.get(k, 0) for k in expect} == expect, loader
        assert [t.type for t in pipeline][:3] == [
            'DecordWithPyAVInit', kind, 'DecordWithPyAVDecode'], loader
        if views is None:
            assert not sampler.get('test_mode', False)
            continue
        assert sampler.test_mode and sampler.num_clips == views[0], loader
        assert _step(pipeline, 'ShortSideResize').short_side == 224
        crop = _step(pipeline, 'UniformThreeCrop')
        assert (crop.crop_size, crop.num_crops) == (224, views[1]), loader
    pipeline = train.pipeline
    rrc = _step(pipeline, 'RandomResizedCrop')
    assert (tuple(rrc.area_range), tuple(rrc.aspect_ratio_range)) == (
        (0.08, 1.0), (0.75, 1.3333))
    resize = _step(pipeline, 'Resize')
    assert (tuple(resize.scale), resize.keep_ratio) == ((224, 224), False)
    flip = _step(pipeline, 'Flip')
    assert (flip is not None) == FLIPPED[o.dataset]
    if flip is not None:
        assert flip.flip_ratio == 0.5
    # --aa rand-m7-n4-mstd0.5-inc1, one draw per clip
    augment = TRANSFORMS.build(_step(pipeline, 'VideoRandAugment'))
    assert (augment.magnitude, augment.num_ops, augment.magnitude_std) == (
        7, 4, 0.5)
    assert augment.op_names == INCREASING_OPS
    assert _step(pipeline, 'RandomErasing') is None  # --reprob 0
    assert cfg.test_dataloader.batch_size >= 1


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_official_values(name):
    o = OFFICIAL[name]
    cfg = _cfg(name)
    init_default_scope(cfg.default_scope)
    _check_optimisation(cfg, o)
    _check_model(cfg, o)
    _check_data(cfg, o)
    hooks = cfg.default_hooks.checkpoint
    assert hooks.interval == o.save_every
    assert hooks.save_best == ('acc/action_top1'
                               if o.dataset == 'ek100' else 'acc/top1')
    assert cfg.randomness.seed == 0
    evaluator = cfg.test_evaluator
    if o.dataset == 'ek100':
        assert evaluator.type == 'EpicKitchensMetric'
    else:
        assert evaluator.type == 'AccMetric'
        assert tuple(evaluator.metric_options.top_k_accuracy.topk) == (1, 5)


@pytest.mark.parametrize('role', ['selector', 'expert'])
def test_stage_configs_wrap_the_ssv2_data(role):
    cfg = _cfg(f'tstl_clip-videomae-b16-{role}_1xb8-10e_ssv2.py')
    base = _cfg('tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py')
    for loader in ('train', 'val', 'test'):
        wrapper = cfg[f'{loader}_dataloader'].dataset
        assert wrapper.type == 'GroupLabelDataset'
        assert (wrapper.grouping, wrapper.role) == (SSV2_GROUPING, role)
        assert wrapper.get('group') == (0 if role == 'expert' else None)
        assert wrapper.dataset == base[f'{loader}_dataloader'].dataset
    # TSTL's CustomBatchSampler: 4 classes x 2 clips a batch
    sampler = cfg.train_dataloader.batch_sampler
    assert (sampler.type, sampler.classes_per_batch,
            sampler.samples_per_class) == ('ClassBalancedBatchSampler', 4, 2)


@pytest.fixture(scope='module')
def tiny_video(tmp_path_factory):
    """One 64-frame 40 x 48 video (enough for 16 frames 4 apart) and a
    one-line list of it in the space- and the comma-separated layout."""
    root = tmp_path_factory.mktemp('tstl_video')
    frames = action_frames(3, 4, 64, 40, 48, np.random.default_rng(0))
    write_frames(str(root / 'clip0.mp4'), frames)
    (root / 'list.csv').write_text('clip0.mp4 3\n')
    (root / 'epic.csv').write_text('clip0,3,5\n')  # <id>,<verb>,<noun>
    return root


@pytest.mark.parametrize('name', [
    'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py',
    'tstl_clip-videomae-b16-bidir_16xb6-70e_k400.py',
    'tstl_clip-videomae-b16-bidir_16xb8-30e_ucf101.py',
    'tstl_clip-videomae-b16-compo_16xb6-50e_ek100.py',
])
def test_pipelines_give_the_official_views(name, tiny_video):
    o = OFFICIAL[name]
    cfg = _cfg(name)
    init_default_scope(cfg.default_scope)
    ann = tiny_video / ('epic.csv' if o.dataset == 'ek100' else 'list.csv')
    clips, crops = VIEWS[o.dataset]
    for loader, views in (('train', 1), ('val', 1), ('test', clips * crops)):
        ds = cfg[f'{loader}_dataloader'].dataset
        ds.update(ann_file=str(ann), data_prefix=dict(video=str(tiny_video)))
        torch.manual_seed(0)
        np.random.seed(0)
        item = DATASETS.build(ds)[0]
        assert item['inputs'].shape == (views, 3, 16, 224, 224), loader
        sample = item['data_samples']
        if o.dataset == 'ek100':
            assert (sample.verb_label, sample.noun_label) == (3, 5)
        else:
            assert int(sample.gt_label) == 3


def test_routed_config_builds_with_the_official_grouping(tmp_path):
    cfg = _cfg(ROUTED)
    init_default_scope(cfg.default_scope)
    model = cfg.model
    assert model.type == 'TSTLRoutedRecognizer'
    assert (model.top_k, model.vote) == (1, 'max_logit')
    path = osp.join(REPO, model.grouping)
    assert model.grouping == SSV2_GROUPING
    with open(path, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == \
            OFFICIAL_GROUPING_SHA256
    grouping = load_class_grouping(path, num_classes=174)
    assert grouping.num_groups == 15
    sizes = sorted(len(grouping.classes_of(g)) for g in range(15))
    assert sizes == [11] * 6 + [12] * 9
    defaults = {k: p.default for k, p in inspect.signature(
        TSTLBackbone).parameters.items() if p.default is not p.empty}
    for part, classes in (('selector', 15), ('experts', 174)):
        sub = model[part]
        built = dict(defaults, **sub.backbone)
        assert {k: built[k] for k in ARCH} == ARCH, part
        assert sub.backbone.drop_path_rate == 0.0
        assert sub.cls_head.type == 'TSTLFusedHead'
        assert (sub.cls_head.num_classes, sub.cls_head.average_clips) == (
            classes, 'prob')
    # the checkpoints of the last epochs of the selector / expert runs
    selector = _cfg('tstl_clip-videomae-b16-selector_1xb8-10e_ssv2.py')
    last = f'epoch_{selector.train_cfg.max_epochs}.pth'
    assert model.selector_checkpoint.endswith('/' + last)
    assert model.expert_checkpoints.endswith('-{}/' + last)
    assert cfg.train_dataloader is None and cfg.train_cfg is None
    test = cfg.test_dataloader
    assert test.batch_size == 1
    sampler = _step(test.dataset.pipeline, 'SegmentSampleFrames')
    crop = _step(test.dataset.pipeline, 'UniformThreeCrop')
    assert (sampler.num_clips, crop.num_crops) == VIEWS['ssv2']

    # built as configured, but with tiny experts: 15 selector groups,
    # 15 experts over the 174 classes
    tiny = dict(img_size=32, patch_size=8, embed_dim=32, depth=2,
                num_heads=2, num_frames=4)
    for part in ('selector', 'experts'):
        model[part].backbone.update(tiny)
        model[part].cls_head.in_channels = 32
        torch.save(dict(state_dict=MODELS.build(model[part]).state_dict()),
                   tmp_path / f'{part}.pth')
    for g in range(15):
        (tmp_path / f'expert-{g}.pth').symlink_to(tmp_path / 'experts.pth')
    model.update(selector_checkpoint=str(tmp_path / 'selector.pth'),
                 expert_checkpoints=str(tmp_path / 'expert-{}.pth'),
                 grouping=path)
    routed = MODELS.build(model)
    assert len(routed.experts) == 15
    with torch.no_grad():
        out = routed(torch.randn(1, 6, 3, 4, 32, 32), mode='tensor')
    assert out[0].shape == (1, 6, 174) and out[1].shape == (1, 6, 15)
