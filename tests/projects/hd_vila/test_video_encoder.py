"""HD-VILA's hybrid video encoder: shapes at the official sizes scaled down,
the hybrid / keyframe-only / frames-only paths against their composition,
the keyframe's place among the frames, frozen stages and BatchNorm in train
mode, loading ResNet weights into both branches, input errors."""
import pytest
import torch

from vtg_hd_vila.models.resnet_branches import HDVILAResNet
from vtg_hd_vila.models.video_encoder import HDVILAVideoEncoder
from vtg_plugins.registry import MODELS

# the official 640x1024 keyframes / 160x256 frames / 10x16 grid, scaled by
# 1/5 on H and 1/5.33 on W: 128x192 keyframes, 32x48 frames, 2x3 grids
KEY_HW, LOW_HW, GRID = (128, 192), (32, 48), (2, 3)


def _encoder(**kwargs):
    cfg = dict(
        type='HDVILAVideoEncoder',
        hidden_size=16,
        resnet_depth=18,
        timesformer_depth=1,
        timesformer_heads=2,
        num_frames=7,
        grid_size=GRID,
        drop_path_rate=0.0,
        fused_attn=False)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _inputs(n=2, others=6, key_hw=KEY_HW, low_hw=LOW_HW):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(n, 3, *key_hw, generator=g),
            torch.randn(n, others, 3, *low_hw, generator=g))


def _mix_time(enc):
    """Random temporal_fc and time_embed. The official init zeroes
    temporal_fc (no mixing over time: the output ignores, and sends no
    gradient to, the low-resolution frames) and time_embed (no order)."""
    with torch.no_grad():
        for blk in enc.timesformer.blocks:
            blk.temporal_fc.weight.normal_(std=0.5)
        enc.timesformer.time_embed.normal_()
    return enc


def _composed(enc, keyframes, frames, position):
    """The hybrid path written out, the keyframe inserted at `position`;
    the 1/4 nearest subsampling of stage 3 is a stride-4 slice."""
    stages = enc.cnn(keyframes)
    key_grid = enc.grid_encoder(stages[3])
    key_low = enc.grid_encoder_low(stages[2][:, :, ::4, ::4])
    n, t = frames.shape[:2]
    others = enc.grid_encoder_low(enc.cnn_low(frames.flatten(0,
                                                             1))[2]).unflatten(
                                                                 0, (n, t))
    clip = torch.cat(
        (others[:, :position], key_low[:, None], others[:, position:]), 1)
    temporal = enc.timesformer(clip)[:, position]
    return enc.grid_encoder_combine(torch.cat((key_grid, temporal), 1))


def test_official_module_names_and_resnet50_channels():
    enc = HDVILAVideoEncoder(
        hidden_size=32,
        timesformer_depth=1,
        timesformer_heads=2,
        grid_size=GRID)
    assert [n for n, _ in enc.named_children()] == [
        'cnn', 'cnn_low', 'grid_encoder', 'grid_encoder_low', 'timesformer',
        'grid_encoder_combine'
    ]
    assert enc.grid_encoder[0].weight.shape == (32, 2048, 1, 1)
    assert enc.grid_encoder_low[0].weight.shape == (32, 1024, 1, 1)
    assert enc.grid_encoder_combine[0].weight.shape == (32, 64, 1, 1)
    assert enc.timesformer.time_embed.shape == (1, 7, 32)
    assert enc.timesformer.pos_embed.shape == (1, 6, 32)
    assert not any(k.startswith('layer4') for k in enc.cnn_low.state_dict())
    assert enc.cnn.norm_eval and enc.cnn.frozen_stages == -1
    keyframes, frames = _inputs(n=1, others=2)
    with torch.no_grad():
        assert enc.eval()(keyframes, frames).shape == (1, 32, *GRID)


def test_resnet_stage_shapes():
    net = HDVILAResNet(depth=50).eval()
    with torch.no_grad():
        stages = net(torch.randn(1, 3, 64, 96))
        low = net.forward_to_stage(torch.randn(1, 3, 64, 96), stage=3)
    assert [tuple(s.shape[1:]) for s in stages] == [(256, 16, 24),
                                                    (512, 8, 12), (1024, 4, 6),
                                                    (2048, 2, 3)]
    assert low.shape == (1, 1024, 4, 6)


@torch.no_grad()
def test_paths_shapes_and_composition():
    enc = _mix_time(_encoder()).eval()
    keyframes, frames = _inputs()
    out = enc(keyframes, frames)
    assert out.shape == (2, 16, *GRID)
    torch.testing.assert_close(
        out, _composed(enc, keyframes, frames, 3), rtol=0, atol=1e-6)
    # keyframe-only: the keyframe grid
    key = enc(keyframes=keyframes)
    assert key.shape == (2, 16, *GRID)
    torch.testing.assert_close(
        key, enc.grid_encoder(enc.cnn(keyframes)[3]), rtol=0, atol=0)
    # frames-only: the TimeSformer's middle output over the frames
    only = enc(frames=frames[:, :5])
    maps = enc.grid_encoder_low(enc.cnn_low(frames[:, :5].flatten(0, 1))[2])
    expected = enc.timesformer(maps.unflatten(0, (2, 5)))[:, 2]
    assert only.shape == (2, 16, *GRID)
    torch.testing.assert_close(only, expected, rtol=0, atol=1e-6)


@torch.no_grad()
@pytest.mark.parametrize('others, middle', [(6, 3), (10, 5), (5, 3), (1, 1)])
def test_keyframe_sits_in_the_middle(others, middle):
    """The keyframe's map is frame T//2 of the T = others + 1 clip and the
    output reads that frame; the composition is sensitive to the place."""
    enc = _mix_time(_encoder()).eval()
    keyframes, frames = _inputs(others=others)
    out = enc(keyframes, frames)
    torch.testing.assert_close(
        out, _composed(enc, keyframes, frames, middle), rtol=0, atol=1e-6)
    for wrong in {0, middle - 1, others} - {middle}:
        assert not torch.allclose(
            out, _composed(enc, keyframes, frames, wrong), atol=1e-4)


@torch.no_grad()
def test_output_depends_on_every_low_res_frame_and_keyframe():
    enc = _mix_time(_encoder()).eval()
    keyframes, frames = _inputs()
    out = enc(keyframes, frames)
    for j in range(frames.shape[1]):
        moved = frames.clone()
        moved[1, j] += 1.0
        changed = enc(keyframes, moved)
        torch.testing.assert_close(changed[0], out[0], rtol=0, atol=0)
        assert not torch.allclose(changed[1], out[1], atol=1e-5), j
    moved = keyframes.clone()
    moved[0] += 1.0
    assert not torch.allclose(enc(moved, frames)[0], out[0], atol=1e-5)


def _train_step(enc, keyframes, frames):
    opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    enc.train()
    enc(keyframes, frames).square().mean().backward()
    opt.step()


def _snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize('norm_eval', [True, False])
def test_frozen_stages_and_batchnorm_do_not_change_in_train_mode(norm_eval):
    enc = _mix_time(_encoder(resnet_frozen_stage=2, norm_eval=norm_eval))
    keyframes, frames = _inputs(others=2, key_hw=(64, 64), low_hw=(16, 16))
    before = {
        name: _snapshot(getattr(enc, name))
        for name in ('cnn', 'cnn_low')
    }
    _train_step(enc, keyframes, frames)
    for name in ('cnn', 'cnn_low'):
        net, old = getattr(enc, name), before[name]
        new = net.state_dict()
        for key in new:
            frozen = key.split('.')[0] in ('conv1', 'bn1', 'layer1', 'layer2')
            stat = key.rsplit('.', 1)[-1] in ('running_mean', 'running_var',
                                              'num_batches_tracked')
            same = torch.equal(new[key], old[key])
            if frozen or (stat and norm_eval):
                assert same, f'{name}.{key} changed'
            elif key.endswith('.weight') or (stat and 'bn' in key):
                assert not same, f'{name}.{key} did not train'
        for mod_name, module in net.named_modules():
            frozen = mod_name.split('.')[0] in ('conv1', 'bn1', 'layer1',
                                                'layer2')
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.training == (not frozen and not norm_eval)
        for key, param in net.named_parameters():
            frozen = key.split('.')[0] in ('conv1', 'bn1', 'layer1', 'layer2')
            assert param.requires_grad == (not frozen)


def test_official_default_keeps_batchnorm_statistics():
    """resnet_frozen_stage=-1 (every config): everything trains, but the
    BatchNorm statistics stay (mmdetection's norm_eval=True)."""
    enc = _encoder()
    keyframes, frames = _inputs(others=2, key_hw=(64, 64), low_hw=(16, 16))
    before = _snapshot(enc.cnn)
    _train_step(enc, keyframes, frames)
    assert all(p.requires_grad for p in enc.parameters())
    for key, value in enc.cnn.state_dict().items():
        if 'running' in key or 'num_batches' in key:
            assert torch.equal(value, before[key]), key
        elif key.endswith('conv1.weight'):
            assert not torch.equal(value, before[key]), key


def _resnet_weights(depth=18):
    torch.manual_seed(3)
    net = HDVILAResNet(depth=depth)
    state = net.state_dict()
    state = {
        k: torch.randn_like(v.float()).to(v.dtype)
        for k, v in state.items()
    }
    state['fc.weight'] = torch.zeros(10, 512)  # an ImageNet head: ignored
    return state


@pytest.mark.parametrize('layout', ['official', 'detector'])
def test_loads_resnet_checkpoint_into_both_branches(tmp_path, layout):
    state = _resnet_weights()
    if layout == 'official':  # what the official convert_pth_file writes
        ckpt = dict(state_dict=state)
    else:  # an mmdetection detector: backbone + other parts
        ckpt = {f'backbone.{k}': v for k, v in state.items()}
        ckpt['neck.conv.weight'] = torch.zeros(1)
    path = tmp_path / 'res18_mmdetection.pth'
    torch.save(ckpt, path)
    enc = _encoder(cnn_checkpoint=str(path))
    enc.init_weights()
    for name in ('cnn', 'cnn_low'):
        loaded = getattr(enc, name).state_dict()
        assert loaded, name
        for key, value in loaded.items():
            assert torch.equal(value, state[key]), f'{name}.{key}'
    assert len(enc.cnn.state_dict()) > len(enc.cnn_low.state_dict())


def test_checkpoint_errors_name_the_file(tmp_path):
    state = _resnet_weights()
    del state['layer2.0.conv1.weight']
    path = tmp_path / 'broken.pth'
    torch.save(dict(state_dict=state), path)
    enc = _encoder()
    missing = r'broken\.pth \(cnn\).*missing.*layer2\.0\.conv1'
    with pytest.raises(ValueError, match=missing):
        enc.load_cnn_checkpoint(path)
    torch.save(dict(state_dict=_resnet_weights(depth=50)), path)
    with pytest.raises(ValueError, match=r'broken\.pth.*shape mismatches'):
        enc.load_cnn_checkpoint(path)


def test_input_errors():
    enc = _encoder().eval()
    keyframes, frames = _inputs(n=1, others=2)
    with pytest.raises(ValueError, match='keyframes, frames or both'):
        enc()
    with pytest.raises(ValueError, match=r'frames must be \[N, T-1'):
        enc(keyframes, frames[:, 0])
    with pytest.raises(ValueError, match='1 keyframes but 2 frame clips'):
        enc(keyframes, torch.cat([frames, frames]))
    with pytest.raises(ValueError, match='grids do not line up'):
        enc(keyframes, _inputs(n=1, others=2, low_hw=(64, 96))[1])
    with pytest.raises(ValueError, match='frozen_stages'):
        HDVILAResNet(depth=18, num_stages=3, frozen_stages=4)
    with pytest.raises(ValueError, match='depth'):
        HDVILAResNet(depth=20)
