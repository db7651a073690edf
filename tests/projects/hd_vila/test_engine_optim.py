"""HDVILAAdamW against the official update rule written out here (not
torch's AdamW), and HDVILAOptimWrapperConstructor's groups against the
official ``setup_e2e_optimizer`` rule (``src/optimization/utils.py``)
applied to a tiny real HD-VILA model under its official names."""
import math

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from torch import nn

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_hd_vila.engine import HDVILAAdamW
from vtg_plugins.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

TINY_ENCODER = dict(
    type='HDVILAVideoEncoder',
    hidden_size=16,
    resnet_depth=18,
    timesformer_depth=1,
    timesformer_heads=2,
    num_frames=3,
    grid_size=(2, 3),
    drop_path_rate=0.0)
LRS = dict(
    lr=1e-4,
    weight_decay=0.01,
    cnn_lr=2e-4,
    cnn_weight_decay=0.02,
    align_lr=3e-4,
    align_weight_decay=0.03)


def official_adamw(p, grads, lr, betas, eps, wd, correct_bias=True):
    """``src/optimization/adamw.py``'s update in float64 numpy."""
    p = np.array(p, np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        step = lr
        if correct_bias:
            step = lr * math.sqrt(1 - betas[1]**t) / (1 - betas[0]**t)
        p = p - step * m / (np.sqrt(v) + eps)
        p = p - lr * wd * p
    return p


def _run(opt_cls, p0, grads, **kwargs):
    param = nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    opt = opt_cls([param], **kwargs)
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return param.detach().numpy()


@pytest.mark.parametrize('correct_bias', [True, False])
def test_adamw_is_the_official_update(correct_bias):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=5)
    # tiny gradients make eps matter, large weights make the decay order
    grads = [rng.normal(size=5) * 1e-5 for _ in range(4)]
    kwargs = dict(lr=0.1, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.3)
    got = _run(
        HDVILAAdamW, 10 * p0, grads, correct_bias=correct_bias, **kwargs)
    want = official_adamw(
        10 * p0,
        grads,
        correct_bias=correct_bias,
        wd=kwargs.pop('weight_decay'),
        **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_adamw_is_not_torch_adamw_and_defaults_to_eps_1e6():
    assert HDVILAAdamW([nn.Parameter(torch.zeros(1))]).defaults['eps'] == 1e-6
    rng = np.random.default_rng(1)
    p0, grads = 10 * rng.normal(size=5), [rng.normal(size=5) * 1e-5] * 3
    kwargs = dict(lr=0.1, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.3)
    ours = _run(HDVILAAdamW, p0, grads, **kwargs)
    torchs = _run(torch.optim.AdamW, p0, grads, **kwargs)
    assert np.abs(ours - torchs).max() > 1e-4


def test_adamw_skips_parameters_without_gradient_and_checks_args():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = HDVILAAdamW([a, b], lr=0.1, weight_decay=0.5)
    a.grad = torch.ones(2)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2))
    assert not torch.equal(a.detach(), torch.ones(2))
    with pytest.raises(ValueError, match='betas\\[1\\]'):
        HDVILAAdamW([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match='lr'):
        HDVILAAdamW([a], lr=-1)


def _model(kind='HDVILARetrieval', **kwargs):
    init_default_scope('vtg_plugins')
    torch.manual_seed(0)
    bert = dict(
        vocab_size=42,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64)
    return MODELS.build(
        dict(
            type=kind, video_encoder=TINY_ENCODER, bert_config=bert, **kwargs))


def _groups(model, **paramwise):
    lrs = dict(LRS)
    optimizer = dict(
        type='HDVILAAdamW',
        lr=lrs.pop('lr'),
        weight_decay=lrs.pop('weight_decay'))
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='HDVILAOptimWrapperConstructor',
            optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=optimizer),
            paramwise_cfg={
                **lrs,
                **paramwise
            }))
    wrapper = constructor(model)
    assert isinstance(wrapper, OptimWrapper)
    assert isinstance(wrapper.optimizer, HDVILAAdamW)
    names = {id(p): n for n, p in model.named_parameters()}
    return [(g['lr'], g['weight_decay'], [names[id(p)] for p in g['params']])
            for g in wrapper.optimizer.param_groups]


def official_groups(named, cfg):
    """``setup_e2e_optimizer`` on official names: three sets by substring,
    each ``build_e2e_optimizer_w_lr_mul`` (top by prefix, then decay /
    no_decay by the official no_decay list); empty groups left out."""
    no_decay = ['bias', 'LayerNorm.bias', 'LayerNorm.weight', 'embed']

    def part(keys, lr, wd, mul=1.0, prefix=''):
        return ([n for n in named
                 if any(k in n for k in keys)], lr, wd, mul, prefix)

    sets = [
        part(['transformer'], cfg['lr'], cfg['weight_decay'],
             cfg.get('transformer_lr_mul', 1.0),
             cfg.get('transformer_lr_mul_prefix', '')),
        part(['cnn', 'grid_encoder'], cfg['cnn_lr'], cfg['cnn_weight_decay'],
             cfg.get('cnn_lr_mul', 1.0),
             cfg.get('cnn_lr_mul_prefix', 'grid_encoder')),
        part(['timesformer'], cfg['align_lr'], cfg['align_weight_decay']),
    ]
    groups = []
    for names, lr, wd, mul, prefix in sets:
        top = [n for n in names if prefix and prefix in n]
        rest = [n for n in names if not (prefix and prefix in n)]
        for part, part_lr in ((top, mul * lr), (rest, lr)):
            decay = [n for n in part if not any(k in n for k in no_decay)]
            nodecay = [n for n in part if any(k in n for k in no_decay)]
            groups += [(part_lr, w, g)
                       for w, g in ((wd, decay), (0.0, nodecay)) if g]
    return groups


def _official_names(model):
    """Trainable names as in the official HDVILA (the encoder's modules
    are its top-level ones)."""
    return [
        n.replace('video_encoder.', '', 1)
        for n, p in model.named_parameters() if p.requires_grad
    ]


def _to_official(groups):
    return [(lr, wd, [n.replace('video_encoder.', '', 1) for n in names])
            for lr, wd, names in groups]


@pytest.mark.parametrize('kind,kwargs', [
    ('HDVILARetrieval', {}),
    ('HDVILAVideoQA', dict(num_labels=3)),
])
def test_groups_follow_the_official_rule(kind, kwargs):
    model = _model(kind, **kwargs)
    groups = _groups(model)
    assert _to_official(groups) == official_groups(_official_names(model), LRS)
    # every trainable parameter exactly once
    flat = [n for _, _, names in groups for n in names]
    assert sorted(flat) == sorted(n for n, _ in model.named_parameters())
    where = {n: (lr, wd) for lr, wd, names in groups for n in names}
    assert where['transformer.bert.embeddings.word_embeddings.weight'] == (
        1e-4, 0.0)
    assert where['transformer.bert.encoder.layer.0.output.dense.weight'] == (
        1e-4, 0.01)
    assert where['video_encoder.cnn.layer1.0.bn1.weight'] == (2e-4, 0.02)
    assert where['video_encoder.cnn_low.conv1.weight'] == (2e-4, 0.02)
    assert where['video_encoder.grid_encoder_combine.0.weight'] == (2e-4, 0.02)
    assert where['video_encoder.timesformer.pos_embed'] == (3e-4, 0.0)
    assert where['video_encoder.timesformer.blocks.0.norm1.weight'] == (3e-4,
                                                                        0.03)
    assert where['video_encoder.timesformer.blocks.0.norm1.bias'] == (3e-4,
                                                                      0.0)
    # official order: cnn top (grid encoders) before the rest of the cnn set
    cnn = [names[0] for lr, _, names in groups if lr == 2e-4]
    assert 'grid_encoder' in cnn[0] and 'cnn' in cnn[-1]


def test_lr_multipliers_and_prefixes():
    model = _model()
    extra = dict(
        transformer_lr_mul=10.0,
        transformer_lr_mul_prefix='encoder.layer.0.output',
        cnn_lr_mul=0.5,
        cnn_lr_mul_prefix='cnn_low')
    groups = _groups(model, **extra)
    assert _to_official(groups) == official_groups(
        _official_names(model), {
            **LRS,
            **extra
        })
    assert groups[0][0] == pytest.approx(1e-3)
    assert all('encoder.layer.0.output' in n for n in groups[0][2])
    lrs = {lr for lr, _, names in groups if 'cnn_low' in names[0]}
    assert lrs == {1e-4}


def test_frozen_parameters_are_left_out():
    model = _model(
        'HDVILAPretrainStage2',
        mask_token_id=5,
        special_token_ids=(0, 1, 2, 3, 4, 5))
    groups = _groups(model)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(n for _, _, names in groups
                  for n in names) == sorted(trainable)
    # the stage-1 parts (video encoder included) are frozen: one set left
    assert {lr for lr, _, _ in groups} == {1e-4}


def test_bad_paramwise_cfg_and_unmatched_parameters():
    model = _model()
    with pytest.raises(ValueError, match=r"unknown keys \['cnn_lr_mult'\]"):
        _groups(model, cnn_lr_mult=2.0)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='HDVILAOptimWrapperConstructor',
            optim_wrapper_cfg=dict(optimizer=dict(type='HDVILAAdamW', lr=1.0)),
            paramwise_cfg=dict(cnn_lr=1.0)))
    with pytest.raises(ValueError, match="misses \\['cnn_weight_decay'"):
        constructor(model)
    model.logit_scale = nn.Parameter(torch.ones(1))
    with pytest.raises(ValueError, match="'logit_scale' falls in none"):
        _groups(model)
