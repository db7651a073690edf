"""TSTLLayerDecayOptimWrapperConstructor against TSTL's official parameter
groups (util_tools/optim_factory.py + train_selector.py), written out here
from the official rule."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401  (registers the project)
from vtg_plugins.registry import MODELS

RATE, LR, WD = 0.75, 1e-3, 0.05
DEPTH = 2
# model.no_weight_decay() of the official STCrossTransformer
OFFICIAL_SKIP = {
    'clip_time_pos', 'clip_space_pos', 'vmae_space_pos', 'vmae_time_pos',
    'pos_embed'
}
OFFICIAL_STEMS = {
    'cls_token', 'mask_token', 'pos_embed', 'clip_class_embedding',
    'clip_ln_pre.weight', 'clip_ln_pre.bias', 'clip_conv1.weight',
    'clip_conv1.bias', 'clip_positional_embedding'
}


def official_layer_id(name: str, num_layers: int) -> int:
    """get_num_layer_for_vit on the official (un-prefixed) name; the
    official heads (``head``, ``*_last_Adapter``) are ours ``cls_head.*``
    and fall in its last branch like every non-backbone name."""
    if not name.startswith('backbone.'):
        return num_layers + 1
    name = name[len('backbone.'):]
    if name in OFFICIAL_STEMS or name.startswith('patch_embed'):
        return 0
    if name.startswith('blocks'):
        return int(name.split('.')[1]) + 1
    return num_layers + 1


def official_no_decay(name: str, shape) -> bool:
    """get_parameter_groups: 1-D, ``.bias``, exact skip name, then any skip
    name as a substring."""
    name = name[len('backbone.'):] if name.startswith('backbone.') else name
    return (len(shape) == 1 or name.endswith('.bias') or name in OFFICIAL_SKIP
            or any(s in name for s in OFFICIAL_SKIP))


def official_assignment(model, num_layers):
    """name -> (lr, weight decay) of every trainable parameter."""
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            layer = official_layer_id(name, num_layers)
            out[name] = (LR * RATE**(num_layers + 1 - layer),
                         0.0 if official_no_decay(name, p.shape) else WD)
    return out


def build_recognizer(frozen=True):
    init_default_scope('vtg_plugins')
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(
                type='TSTLBackbone',
                img_size=32,
                patch_size=8,
                embed_dim=32,
                depth=DEPTH,
                num_heads=2,
                num_frames=4,
                drop_path_rate=0.0,
                frozen=frozen),
            cls_head=dict(type='TSTLFusedHead', num_classes=5, in_channels=32),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCTHW')))


def build_wrapper(model, wrapper_type='OptimWrapper', **paramwise):
    cfg = dict(
        type=wrapper_type,
        constructor='TSTLLayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=RATE, **paramwise),
        optimizer=dict(type='AdamW', lr=LR, weight_decay=WD))
    return build_optim_wrapper(model, cfg)


def assignment_of(optimizer, model):
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in optimizer.param_groups:
        for p in group['params']:
            assert names[id(p)] not in out, 'a parameter in two groups'
            out[names[id(p)]] = (group['lr'], group['weight_decay'])
    return out


def assert_same(ours, official):
    assert ours.keys() == official.keys()
    for name, (lr, wd) in official.items():
        assert ours[name][0] == pytest.approx(lr, rel=1e-12), name
        assert ours[name][1] == wd, name


def test_groups_match_official_on_frozen_recognizer():
    model = build_recognizer()
    optimizer = build_wrapper(model).optimizer
    ours = assignment_of(optimizer, model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    # frozen parameters stay out, as the official optimizer
    assert set(ours) == trainable
    assert 'backbone.blocks.0.clip_attn.in_proj_weight' not in ours
    assert_same(ours, official_assignment(model, DEPTH))
    # one group per (layer, decay), as the official: blocks 1..2 and heads
    # each with decayed and not decayed tensors
    assert len(optimizer.param_groups) == 2 * (DEPTH + 1)
    # a few values spelled out: layer ids 1, 2 and the heads (3)
    assert ours['backbone.blocks.0.cross_s_down.weight'] == (pytest.approx(
        LR * RATE**2), WD)
    assert ours['backbone.blocks.1.t2s_cross.clip_time_pos'] == (pytest.approx(
        LR * RATE), 0.0)
    assert ours['backbone.blocks.1.s2t_cross.vmae_space_pos'][1] == 0.0
    assert ours['cls_head.fc_cls.weight'] == (pytest.approx(LR), WD)
    assert ours['cls_head.noun_last_adapter.D_fc1.bias'] == (pytest.approx(LR),
                                                             0.0)
    assert ours['backbone.clip_ln_post.weight'] == (pytest.approx(LR), 0.0)
    for group in optimizer.param_groups:
        assert group['lr'] == pytest.approx(LR * group['lr_scale'])


def test_official_skip_list_is_matched_as_substring():
    # The exact-name test of get_parameter_groups never matches the nested
    # tables; its substring branch does, so the official does not decay them
    # (and neither do we).
    model = build_recognizer()
    nested = [
        n for n, p in model.named_parameters()
        if p.ndim == 2 and n.rsplit('.', 1)[-1] in OFFICIAL_SKIP
    ]
    assert len(nested) == 4 * DEPTH
    for name in nested:
        official_name = name[len('backbone.'):]
        assert official_name not in OFFICIAL_SKIP
        assert official_no_decay(name, (2, 16))
    ours = assignment_of(build_wrapper(model).optimizer, model)
    assert all(ours[n][1] == 0.0 for n in nested)


def test_unfrozen_stems_are_layer_zero_and_pos_tables_not_decayed():
    model = build_recognizer(frozen=False)
    ours = assignment_of(build_wrapper(model).optimizer, model)
    official = official_assignment(model, DEPTH)
    stem_lr = LR * RATE**(DEPTH + 1)
    for name in ('backbone.clip_conv1.weight', 'backbone.clip_class_embedding',
                 'backbone.clip_ln_pre.bias',
                 'backbone.patch_embed.proj.weight',
                 'backbone.clip_positional_embedding'):
        assert ours[name][0] == pytest.approx(stem_lr), name
    # departure: the official decays CLIP's 2-D positional table (it is
    # frozen there); the issue asks for no decay on positional tables
    pos = 'backbone.clip_positional_embedding'
    assert official[pos][1] == WD and ours[pos] == (pytest.approx(stem_lr),
                                                    0.0)
    del ours[pos], official[pos]
    assert_same(ours, official)


def test_num_layers_and_bad_config():
    model = build_recognizer()
    wrapper = build_wrapper(model, num_layers=4)  # lr scale over 4 layers
    ours = assignment_of(wrapper.optimizer, model)
    assert ours['backbone.blocks.0.cross_s_down.weight'][0] == pytest.approx(
        LR * RATE**4)
    with pytest.raises(ValueError, match='in block 1 but num_layers is 1'):
        build_wrapper(model, num_layers=1)
    with pytest.raises(
            ValueError,
            match=r"unknown paramwise_cfg keys \["
            r"'bias_decay_mult'\]"):
        build_wrapper(model, bias_decay_mult=0.0)
    with pytest.raises(ValueError, match='layer_decay_rate'):
        build_optim_wrapper(
            model,
            dict(
                constructor='TSTLLayerDecayOptimWrapperConstructor',
                paramwise_cfg=dict(layer_decay_rate=1.5),
                optimizer=dict(type='AdamW', lr=LR)))


@pytest.mark.parametrize('wrapper_type', ['OptimWrapper', 'BF16OptimWrapper'])
def test_training_step_uses_the_official_lr_and_decay(wrapper_type):
    model = build_recognizer()
    # the zero-initialised up-projections would give the adapters no grad
    for p in model.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    wrapper = build_wrapper(model, wrapper_type=wrapper_type)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {}
    adamw_step = wrapper.optimizer.step

    def record_grads(*args, **kwargs):
        grads.update({
            n: p.grad.clone()
            for n, p in model.named_parameters() if p.grad is not None
        })
        return adamw_step(*args, **kwargs)

    wrapper.optimizer.step = record_grads
    with wrapper.optim_context(model):
        scores = model.cls_head(model.backbone(torch.randn(2, 3, 4, 32, 32)))
        loss = torch.nn.functional.cross_entropy(scores.float(),
                                                 torch.tensor([0, 3]))
    wrapper.update_params(loss)
    official = official_assignment(model, DEPTH)
    for name, p in model.named_parameters():
        if name not in official:  # frozen
            assert name not in grads and torch.equal(p, before[name]), name
            continue
        # AdamW's first step: p (1 - lr wd) - lr g / (|g| + eps)
        lr, wd = official[name]
        g = grads[name]
        expected = before[name] * (1 - lr * wd) - lr * g / (g.abs() + 1e-8)
        torch.testing.assert_close(
            p.detach(), expected, rtol=0, atol=1e-8, msg=name)


def test_deepspeed_wrapper_gets_the_groups():
    # DeepSpeedStrategy.build_optim_wrapper goes through build_optim_wrapper,
    # hence through the constructor
    import mmengine._strategy.deepspeed  # noqa: F401  (DeepSpeedOptimWrapper)
    model = build_recognizer()
    wrapper = build_wrapper(model, wrapper_type='DeepSpeedOptimWrapper')
    assert type(wrapper).__name__ == 'DeepSpeedOptimWrapper'
    assert_same(
        assignment_of(wrapper.optimizer, model),
        official_assignment(model, DEPTH))


def test_wrapper_options_pass_through():
    # update_freq -> accumulative_counts; AMP options stay with the wrapper
    model = build_recognizer()
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='BF16OptimWrapper',
            accumulative_counts=6,
            constructor='TSTLLayerDecayOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)))
    assert type(wrapper).__name__ == 'BF16OptimWrapper'
    assert wrapper._accumulative_counts == 6
    assert_same(
        assignment_of(wrapper.optimizer, model),
        official_assignment(model, DEPTH))
