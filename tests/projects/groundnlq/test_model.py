import math

import pytest
import torch

import vtg_groundnlq  # noqa: F401
from vtg_groundnlq.models import GroundNLQ
from vtg_groundnlq.models.postprocess import grid_to_seconds, seconds_to_grid
from vtg_groundnlq.models.targets import assign_single, ctr_diou_loss_1d, \
    make_points, sigmoid_focal_loss
from vtg_plugins.registry import MODELS

DV, DT = 24, 16


def tiny(**kw):
    """4 pyramid levels (total stride 8), width 32, max_seq_len 64."""
    cfg = dict(
        type='GroundNLQ',
        input_vid_dim=DV,
        input_txt_dim=DT,
        embd_dim=32,
        backbone_arch=(2, 1, 2, 0, 3),
        n_head=4,
        n_mha_win_size=5,
        max_seq_len=64,
        regression_range=((0, 4), (2, 8), (4, 16), (8, 10000)),
        test_cfg=dict(pre_nms_thresh=0.0, max_seg_num=5))
    cfg.update(kw)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    # spread the scores so that NMS has something to order
    torch.nn.init.zeros_(model.cls_head.cls_head.conv.bias)
    torch.nn.init.normal_(model.cls_head.cls_head.conv.weight, std=0.5)
    for m in model.modules():
        if hasattr(m, 'drop_prob'):
            m.scale.data.fill_(0.5)
    return model


def batch(lengths, qlens=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    qlens = qlens or [3 + i for i in range(len(lengths))]
    inputs = dict(
        video=[torch.randn(t, DV, generator=g) for t in lengths],
        query=[torch.randn(n, DT, generator=g) for n in qlens])
    samples = [
        dict(
            qid=f'q{i}',
            vid=f'v{i}',
            duration=t * 16.043 / 30,
            gt_windows=torch.tensor([[2.0, 6.0 + i], [10.0, 12.5]]))
        for i, t in enumerate(lengths)
    ]
    return inputs, samples


def predict(model, inputs, samples):
    with torch.no_grad():
        return [
            p.pred_relevant_windows
            for p in model.eval()(inputs, samples, mode='predict')
        ]


@pytest.mark.parametrize('lengths', [[21, 37], [16, 40]])
def test_real_length_equals_padding_to_max_len(lengths):
    model = tiny()
    # trained LayerNorms have biases: the padded steps then hold them (not
    # zeros), and the masked convolutions read them at a clip's end
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm) or type(m).__name__ == \
                'LayerNorm':
            bias = getattr(m, 'bias', None)
            if bias is not None:
                bias.data.copy_(torch.randn(bias.shape, generator=g) * 0.5)
    inputs, samples = batch(lengths)
    real = predict(model, inputs, samples)
    with torch.no_grad():
        out_real = model(inputs, samples, mode='tensor')
    model.pad_to_max_len = True
    padded = predict(model, inputs, samples)
    with torch.no_grad():
        out_pad = model(inputs, samples, mode='tensor')
    # rounded up to 8, plus one padded step at the coarsest level (8)
    assert out_real['cls_logits'][0].shape[1] == 48
    assert out_pad['cls_logits'][0].shape[1] == 64
    assert len(out_real['cls_logits']) == len(out_pad['cls_logits']) == 4
    for a, b in zip(out_real['cls_logits'], out_pad['cls_logits']):
        torch.testing.assert_close(a, b[:, :a.shape[1]], rtol=0, atol=1e-5)
        assert (b[:, a.shape[1]:] == 0).all()
    assert len(real) == len(padded) == len(lengths)
    for a, b in zip(real, padded):
        assert a.shape == (5, 3)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_batch_composition_does_not_change_outputs():
    model = tiny().eval()
    inputs, samples = batch([21, 60], qlens=[3, 7])
    first = dict(video=inputs['video'][:1], query=inputs['query'][:1])
    with torch.no_grad():
        together = model(inputs, samples, mode='tensor')
        alone = model(first, samples[:1], mode='tensor')
    # in a batch the first clip is padded from 24 to 64 steps
    assert together['cls_logits'][0].shape[1] == 64
    assert len(alone['offsets']) == len(together['offsets']) == 4
    for a, b in zip(alone['offsets'], together['offsets']):
        torch.testing.assert_close(a[0], b[0, :a.shape[1]], rtol=0, atol=1e-5)
    # predict runs each padded length on its own; order is kept
    preds = predict(model, inputs, samples)
    torch.testing.assert_close(preds[0], predict(model, first, samples[:1])[0])
    assert preds[1].shape == (5, 3) and not torch.equal(preds[0], preds[1])
    # float16 features (a half-precision store) are cast to the model dtype
    half = {k: [t.half() for t in v] for k, v in inputs.items()}
    widened = {k: [t.float() for t in v] for k, v in half.items()}
    torch.testing.assert_close(
        predict(model, half, samples)[1],
        predict(model, widened, samples)[1])
    # longer than max_seq_len at test time: the position table is resized
    long_inputs, long_samples = batch([70])
    assert predict(model, long_inputs, long_samples)[0].shape == (5, 3)


def test_training_losses_equal_padded_and_update_normalizer():
    model = tiny()
    inputs, samples = batch([21, 37])
    model.train()
    torch.manual_seed(3)
    real = model(inputs, samples, mode='loss')
    norm_after = float(model.loss_normalizer)
    out = model(inputs, samples, mode='tensor')
    gt_cls, _ = model.get_targets(out['points'], samples)
    valid = torch.cat(out['masks'], dim=1)  # all levels, real length
    model.loss_normalizer.fill_(200.0)
    model.pad_to_max_len = True
    torch.manual_seed(3)
    padded = model(inputs, samples, mode='loss')
    for key in ('loss_cls', 'loss_reg'):
        torch.testing.assert_close(real[key], padded[key], rtol=1e-5, atol=0)
    # EMA: 0.9 * 200 + 0.1 * #positives inside the valid region
    n_pos = int((torch.stack(gt_cls)[..., 0].gt(0) & valid).sum())
    assert n_pos > 0
    assert norm_after == pytest.approx(0.9 * 200 + 0.1 * n_pos)
    (real['loss_cls'] + real['loss_reg']).backward()
    assert model.backbone.vid_embd[0].conv.weight.grad.abs().sum() > 0
    assert 'loss_normalizer' in model.state_dict()


def test_assignment_by_hand():
    # levels with strides 1 and 2, radius 1.5; GT [10, 14], centre 12
    points = torch.cat(make_points([20, 10], [1, 2], [(0, 4), (2, 8)]))
    cls_t, reg_t = assign_single(points,
                                 torch.tensor([[10.0, 14.0]]).double(),
                                 torch.ones(1, 1, dtype=torch.long), 'radius',
                                 1.5)
    pos = cls_t[:, 0].nonzero()[:, 0].tolist()
    # level 0: t in (10.5, 13.5) -> 11, 12, 13; level 1 (index 20 + t/2):
    # t in (10, 14) exclusive, even -> 12
    assert pos == [11, 12, 13, 26]
    assert reg_t[11].tolist() == [1.0, 3.0]
    assert reg_t[26].tolist() == [1.0, 1.0]  # (2, 2) / stride 2


def test_losses_by_hand():
    assert float(ctr_diou_loss_1d(torch.tensor([[1., 1.]]),
                                  torch.tensor([[2., 2.]]))) == \
        pytest.approx(0.5)
    # shifted: pred (1, 3) vs gt (2, 2): iou 3/5, rho 1, enclosing 5
    assert float(ctr_diou_loss_1d(torch.tensor([[1., 3.]]),
                                  torch.tensor([[2., 2.]]))) == \
        pytest.approx(1 - 3 / 5 + (1 / 5)**2)
    focal = sigmoid_focal_loss(torch.zeros(1), torch.ones(1))
    assert float(focal) == pytest.approx(0.25 * 0.25 * math.log(2))


def test_time_conversion_offset_flag():
    grid = torch.tensor([[10.0, 20.0]])
    with_offset = grid_to_seconds(grid, 30, 16.043, 16.043, 100.0)
    assert with_offset.tolist()[0] == pytest.approx([
        (10 * 16.043 + 8.0215) / 30, (20 * 16.043 + 8.0215) / 30
    ])
    fixed = grid_to_seconds(grid, 30, 16.043, 16.043, 100.0, False)
    sec = torch.tensor([[3.0, 7.5]])
    back = grid_to_seconds(
        seconds_to_grid(sec, 30, 16.043).float(), 30, 16.043, 16.043, 100.0,
        False)
    torch.testing.assert_close(back, sec)
    assert fixed.tolist()[0] == pytest.approx(
        [10 * 16.043 / 30, 20 * 16.043 / 30])
    clamped = grid_to_seconds(
        torch.tensor([[-3.0, 500.0]]), 30, 16.043, 16.043, 100.0)
    assert clamped.tolist() == [[0.0, 100.0]]
    model = tiny(test_cfg=dict(half_frame_offset=False, pre_nms_thresh=0.0))
    inputs, samples = batch([21])
    shifted = predict(tiny(), inputs, samples)[0]
    unshifted = predict(model, inputs, samples)[0]
    delta = (shifted[:, :2] - unshifted[:, :2])
    inside = (unshifted[:, :2] > 0.3) & (
        shifted[:, :2] < samples[0]['duration'])
    torch.testing.assert_close(delta[inside],
                               torch.full_like(delta[inside], 8.0215 / 30))


def test_groundnlq_star_has_cross_attention_in_branch():
    model = tiny(backbone_arch=(2, 1, 2, 3, 0))
    keys = model.state_dict()
    assert 'backbone.branch.0.cross_attn.key.weight' in keys
    assert 'backbone.branch.2.ln3.weight' in keys
    inputs, samples = batch([21, 37])
    assert predict(model, inputs, samples)[1].shape == (5, 3)


def test_bad_inputs_name_the_sample():
    model = tiny()
    inputs, samples = batch([21, 37])
    inputs['query'][1] = torch.zeros(0, DT)
    with pytest.raises(ValueError, match="qid='q1'.*T>0"):
        predict(model, inputs, samples)
    inputs, samples = batch([21])
    inputs['video'][0] = torch.zeros(21, DV + 1)
    with pytest.raises(ValueError, match="vid='v0'"):
        predict(model, inputs, samples)
    inputs, samples = batch([70])
    with pytest.raises(ValueError, match="vid='v0' has 70 features"):
        model.train()(inputs, samples, mode='loss')
    inputs, samples = batch([21])
    del samples[0]['gt_windows']
    with pytest.raises(ValueError, match="qid='q0' has no gt_windows"):
        model.train()(inputs, samples, mode='loss')
    with pytest.raises(ValueError, match='unknown test_cfg keys'):
        GroundNLQ(test_cfg=dict(nms_typo=1))


def test_optim_constructor_decays_only_conv_and_linear_weights():
    from vtg_plugins.registry import OPTIM_WRAPPER_CONSTRUCTORS
    model = tiny()
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='GroundNLQOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
                clip_grad=dict(max_norm=1.0))))
    wrapper = constructor(model)
    decay, no_decay = wrapper.optimizer.param_groups
    assert (decay['weight_decay'], no_decay['weight_decay']) == (0.05, 0.0)
    named = {id(p): n for n, p in model.named_parameters()}
    decayed = {named[id(p)] for p in decay['params']}
    assert 'backbone.vid_embd.0.conv.weight' in decayed  # masked conv
    assert 'backbone.vid_stem.0.mlp.0.weight' in decayed
    assert 'backbone.vid_stem.0.cross_attn.query.weight' in decayed
    assert all(n.endswith('.weight') for n in decayed)
    not_decayed = {named[id(p)] for p in no_decay['params']}
    for name in ('backbone.vid_stem.0.ln1.weight', 'reg_head.scale.0.scale',
                 'backbone.vid_stem.0.drop_path_attn.scale',
                 'cls_head.cls_head.conv.bias'):
        assert name in not_decayed
    assert len(decayed) + len(not_decayed) == len(named)
