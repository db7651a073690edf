"""Every GroundNLQ config holds the official hyper-parameters
(houzhijian/GroundNLQ configs/*.yaml, train.py, train_ft.py) and builds its
model and datasets from synthetic stores in the official layout; the
fine-tuning initializer drops the heads."""
import glob
import json
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import vtg_groundnlq  # noqa: F401
from vtg_plugins.datasets import (dump_grounding_annotations,
                                  load_ego4d_nlq_json)
from vtg_plugins.datasets.feature_stores import LMDBStore, LMDBWriter
from vtg_plugins.registry import DATASETS, MODELS
from vtg_plugins.testing import make_ego4d_nlq

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
CFG_DIR = osp.join(REPO, 'configs', 'groundnlq')
PRETRAIN = 'groundnlq_internvideo-egovlp_4xb4-10e_ego4d-narration.py'
FINETUNE = 'groundnlq_internvideo-egovlp-narration-pt_1xb2-10e_ego4d-nlq.py'
TRAINVAL = FINETUNE.replace('.py', '-trainval.py')
SCRATCH = 'groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py'
STAR = 'groundnlq-star_internvideo-egovlp_2xb2-13e_ego4d-nlq.py'
# the same recipe on DeepSpeed ZeRO-2 (tools/train.py fits the wrapper)
SCRATCH_ZERO2 = SCRATCH.replace('.py', '_deepspeed-zero2.py')
# lr after the official per-GPU scaling (yaml lr x GPUs), clips per GPU,
# warm-up + cosine epochs, backbone_arch, max_seg_num, fine-tuned
OFFICIAL = {
    PRETRAIN: (5e-5 * 4, 4, 4, 10, (2, 4, 4, 0, 6), 50, False),
    FINETUNE: (2.5e-5 * 1, 2, 4, 10, (2, 4, 4, 0, 6), 5, True),
    TRAINVAL: (2.5e-5 * 1, 2, 4, 10, (2, 4, 4, 0, 6), 5, True),
    SCRATCH: (5e-5 * 2, 2, 5, 13, (2, 4, 4, 0, 6), 5, False),
    STAR: (5e-5 * 2, 2, 5, 13, (2, 4, 4, 6, 0), 5, False),
    SCRATCH_ZERO2: (5e-5 * 2, 2, 5, 13, (2, 4, 4, 0, 6), 5, False),
}
TRAIN_CFG = dict(center_sample='radius', center_sample_radius=1.5,
                 loss_weight=1.0, cls_prior_prob=0.01, init_loss_norm=200,
                 dropout=0.0, droppath=0.1, label_smoothing=0.1)
TEST_CFG = dict(pre_nms_thresh=0.001, pre_nms_topk=2000, iou_threshold=0.1,
                min_score=0.001, nms_method='soft', nms_sigma=0.75,
                duration_thresh=0.001, multiclass_nms=True,
                voting_thresh=0.9, half_frame_offset=True)
MODEL = dict(input_vid_dim=2304, input_txt_dim=512, embd_dim=384, n_head=4,
             n_mha_win_size=9, max_seq_len=2560, scale_factor=2,
             use_abs_pe=True, embd_kernel_size=3, head_kernel_size=3,
             head_num_layers=3, num_classes=1)
RANGES = [[0, 4], [2, 8], [4, 16], [8, 32], [16, 64], [32, 128],
          [64, 10000]]


def test_every_entry_config_is_in_the_table():
    names = {osp.basename(p) for p in glob.glob(osp.join(CFG_DIR, '*.py'))}
    assert names - {'groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py'} == set(
        OFFICIAL)


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_official_hyper_parameters(name):
    lr, batch, warmup, epochs, arch, max_seg, finetune = OFFICIAL[name]
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    opt = cfg.optim_wrapper
    assert opt.constructor == 'GroundNLQOptimWrapperConstructor'
    assert opt.optimizer.type == 'AdamW'
    assert opt.optimizer.lr == pytest.approx(lr, rel=1e-12)
    assert opt.optimizer.weight_decay == 0.05
    assert opt.clip_grad == dict(max_norm=1.0, norm_type=2)
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.train_cfg.max_epochs == epochs
    warm, cos = cfg.param_scheduler
    assert (warm.type, warm.begin, warm.end) == ('LinearLR', 0, warmup)
    assert (cos.type, cos.begin, cos.end) == ('CosineAnnealingLR', warmup,
                                              epochs)
    assert cos.eta_min == 1e-8
    assert warm.convert_to_iter_based and cos.convert_to_iter_based
    ema = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert len(ema) == 1 and ema[0].momentum == pytest.approx(1 - 0.999)
    assert ema[0].ema_type == 'ExponentialMovingAverage'
    assert cfg.model_wrapper_cfg.find_unused_parameters
    assert cfg.randomness.seed == 12345678
    model = cfg.model
    assert tuple(model.backbone_arch) == arch
    assert {k: model[k] for k in MODEL} == MODEL
    assert [list(r) for r in model.regression_range] == RANGES
    assert {k: model.train_cfg[k] for k in TRAIN_CFG} == TRAIN_CFG
    assert {k: model.test_cfg[k] for k in TEST_CFG} == TEST_CFG
    assert model.test_cfg.max_seg_num == max_seg
    assert model.time_cfg == dict(fps=30.0, feat_stride=16.043,
                                  feat_num_frames=16.043)
    init = model.get('init_cfg')
    if finetune:
        assert init.type == 'PretrainedWithoutHeads'
        assert init.weights == 'model'  # official: raw, not EMA, weights
        assert init.checkpoint.endswith('ego4d-narration/epoch_6.pth')
        assert set(init.drop_prefixes) == {'cls_head.', 'reg_head.',
                                           'loss_normalizer'}
    else:
        assert init is None
    jitter = [t.type for t in _train_dataset(cfg)['pipeline']]
    assert ('NLQTemporalJitter' in jitter) == (name == PRETRAIN)


def _train_dataset(cfg):
    ds = cfg.train_dataloader.dataset
    return ds.datasets[0] if ds.type == 'ConcatDataset' else ds


@pytest.fixture(scope='module')
def official_root(tmp_path_factory):
    """Synthetic Ego4D NLQ in the official layout of the configs."""
    root = tmp_path_factory.mktemp('ego4d_nlq')
    data = make_ego4d_nlq(root / 'src', splits=dict(train=2, val=1),
                          num_feats=(20, 24), seed=2)
    lmdb = root / 'lmdb'
    shutil.copytree(data.video_root,
                    lmdb / 'em_egovlp+internvideo_visual_features_1.87fps')
    shutil.copytree(data.query_root, lmdb / 'nlq_v2_clip_token_features')
    ann = root / 'ego4d_data' / 'ego4d_nlq_v2_ori_data'
    ann.mkdir(parents=True)
    for split in ('train', 'val'):
        shutil.copy(data.extra[f'nlq_{split}'], ann / f'nlq_{split}.json')
    test = json.loads((ann / 'nlq_val.json').read_text())
    for video in test['videos']:
        for clip in video['clips']:
            for a in clip['annotations']:
                for q in a['language_queries']:
                    del q['clip_start_sec'], q['clip_end_sec']
    (ann / 'nlq_test_unannotated.json').write_text(json.dumps(test))
    # narration queries: the train clips' windows under narration ids
    records = load_ego4d_nlq_json(ann / 'nlq_train.json')
    texts = LMDBStore(data.query_root)
    with LMDBWriter(lmdb / 'em_narration_clip_token_features',
                    array_name='token_features') as w:
        for i, rec in enumerate(records):
            old = rec.qid
            rec.qid = rec.source_qid = f'{rec.vid}_narrator-1_{i}'
            w.add(rec.qid, texts[old])
    dump_grounding_annotations(
        records, root / 'ego4d_data_narration' / 'narration_queries.jsonl')
    return root


@pytest.mark.parametrize('name', sorted(OFFICIAL))
def test_config_builds_model_and_datasets(name, official_root):
    cfg = Config.fromfile(osp.join(CFG_DIR, name))
    init_default_scope(cfg.default_scope)
    train_cfg = cfg.train_dataloader.dataset
    for ds in (train_cfg.get('datasets') or [train_cfg]):
        ds.data_root = str(official_root)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(official_root)
    cfg.model.pop('init_cfg', None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    if cfg.model.backbone_arch[3] == 0:  # official count of GroundNLQ
        assert n_params == 32527498
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(train) == (6 if name == TRAINVAL else 4)
    assert len(val) == 2 and len(test) == 2
    batch = pseudo_collate([train[i] for i in range(2)])
    model.train()
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert torch.isfinite(losses['loss_cls'] + losses['loss_reg'])
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(
            pseudo_collate([test[0]]), False), mode='predict')
    sample = out[0]
    assert sample.pred_relevant_windows.shape[1] == 3
    assert isinstance(sample.query_idx, int) and sample.clip_uid


def _tiny(**kw):
    torch.manual_seed(kw.pop('seed', 0))
    cfg = dict(type='GroundNLQ', input_vid_dim=8, input_txt_dim=8,
               embd_dim=16, backbone_arch=(2, 1, 1, 0, 2), n_head=2,
               max_seq_len=32, regression_range=[(0, 4), (2, 8), (4, 1e4)])
    return MODELS.build(dict(cfg, **kw))


def test_pretrained_without_heads(tmp_path):
    init_default_scope('vtg_plugins')
    raw, ema = _tiny(seed=1), _tiny(seed=2)
    raw.loss_normalizer.fill_(123.0)
    # an MMEngine checkpoint saved by EMAHook: state_dict = EMA weights,
    # ema_state_dict = the raw weights under 'module.'
    ckpt = dict(
        state_dict=ema.state_dict(),
        ema_state_dict={f'module.{k}': v
                        for k, v in raw.state_dict().items()})
    ckpt['ema_state_dict']['steps'] = torch.tensor(7)
    torch.save(ckpt, tmp_path / 'pre.pth')
    fresh = _tiny(seed=3)
    model = _tiny(seed=3, init_cfg=dict(type='PretrainedWithoutHeads',
                                        checkpoint=str(tmp_path / 'pre.pth')))
    model.init_weights()
    for key, value in model.state_dict().items():
        if key.startswith(('cls_head.', 'reg_head.')) or \
                key == 'loss_normalizer':
            assert torch.equal(value, fresh.state_dict()[key]), key
        else:
            assert torch.equal(value, raw.state_dict()[key]), key
    assert model.loss_normalizer.item() == 200.0
    # weights='ema' takes the checkpoint's state_dict
    model = _tiny(seed=3, init_cfg=dict(type='PretrainedWithoutHeads',
                                        checkpoint=str(tmp_path / 'pre.pth'),
                                        weights='ema'))
    model.init_weights()
    key = 'backbone.vid_embd.0.conv.weight'
    assert torch.equal(model.state_dict()[key], ema.state_dict()[key])
    # a checkpoint of another model is refused, naming the keys
    other = _tiny(seed=1, embd_dim=8)
    torch.save(dict(state_dict={
        k: v for k, v in other.state_dict().items() if 'txt_stem' not in k
    }), tmp_path / 'bad.pth')
    model = _tiny(seed=3, init_cfg=dict(type='PretrainedWithoutHeads',
                                        checkpoint=str(tmp_path / 'bad.pth')))
    with pytest.raises(ValueError, match=r'bad.pth.*missing.*txt_stem'):
        model.init_weights()
    torch.save(dict(state_dict=other.state_dict()), tmp_path / 'bad2.pth')
    model = _tiny(seed=3, init_cfg=dict(type='PretrainedWithoutHeads',
                                        checkpoint=str(tmp_path / 'bad2.pth')))
    with pytest.raises(ValueError, match=r'missing \[\] \(0\).*other shapes '
                                         r'\[.+ vs .+\] \([1-9]'):
        model.init_weights()
