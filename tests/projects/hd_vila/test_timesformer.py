"""HD-VILA's feature-map TimeSformer: the official output on the fixture
(same parameter names; float32 and float64), embedding resizing, the
official initialisation and stochastic depth schedule, input errors."""
import numpy as np
import pytest
import torch

from vtg_hd_vila.models.timesformer import TimeSformer
from vtg_plugins.testing.refs import ref_path


def _fixture():
    return torch.load(
        ref_path('hd_vila', 'timesformer_tiny.pt'), weights_only=False)


def _from_fixture(ref, fused_attn):
    cfg = ref['config']
    assert (cfg['attention_type'], cfg['qkv_bias'], cfg['mlp_ratio'],
            cfg['norm_eps']) == ('divided_space_time', True, 4.0, 1e-6)
    model = TimeSformer(
        depth=cfg['depth'],
        num_frames=cfg['num_frames'],
        H=cfg['H'],
        W=cfg['W'],
        embed_dim=cfg['embed_dim'],
        num_heads=cfg['num_heads'],
        fused_attn=fused_attn)
    # the official final `norm` is never used by its forward; we leave it out
    state = ref['state_dict']
    unused = sorted(set(state) - set(model.state_dict()))
    assert unused == ['norm.bias', 'norm.weight']
    model.load_state_dict({k: v for k, v in state.items() if k not in unused})
    return model.eval()


@pytest.mark.parametrize('fused_attn, atol', [(False, 1e-6), (True, 2e-6)])
@pytest.mark.parametrize('case', ['', '_resized'])
def test_matches_official_output_float32(case, fused_attn, atol):
    """Same weights and float32 inputs as the official run; explicit
    attention rounds like the official code, fused attention a little
    differently (outputs are O(1), float32 eps 1.2e-7)."""
    ref = _fixture()
    model = _from_fixture(ref, fused_attn)
    # '_resized' runs on 3x4 maps: pos_embed (2x3) is resized bilinearly
    assert (ref['input' + case].shape[-2:] == (2, 3)) == (case == '')
    with torch.no_grad():
        out = model(ref['input' + case])
    assert out.shape == ref['output' + case].shape
    torch.testing.assert_close(out, ref['output' + case], atol=atol, rtol=0)


@pytest.mark.parametrize('case', ['', '_resized'])
def test_float64_equals_official_float32_within_its_rounding(case):
    """In float64 ours is the exact math; the float32 official output may
    only differ by its own rounding (a few ulp of O(1) values)."""
    ref = _fixture()
    model = _from_fixture(ref, fused_attn=False).double()
    with torch.no_grad():
        out = model(ref['input' + case].double())
    torch.testing.assert_close(
        out, ref['output' + case].double(), atol=2e-6, rtol=0)


def test_embeddings_added_and_time_embed_resized_linearly():
    """With no blocks the output is input + pos + time; T != num_frames
    resamples the time embedding like np.interp at the half-pixel
    (align_corners=False) source positions."""
    model = TimeSformer(
        depth=0, num_frames=3, H=2, W=3, embed_dim=4, num_heads=2).double()
    with torch.no_grad():
        model.time_embed.normal_()
    T0, T = 3, 5
    x = torch.randn(2, T, 4, 2, 3, dtype=torch.float64)
    out = model(x)
    pos = model.pos_embed[0].reshape(2, 3, 4).detach().numpy()  # H, W, C
    src = np.clip((np.arange(T) + 0.5) * T0 / T - 0.5, 0, T0 - 1)
    table = model.time_embed[0].detach().numpy()
    time = np.stack(
        [np.interp(src, np.arange(T0), table[:, c]) for c in range(4)],
        axis=1)  # T, C
    expected = (
        x.numpy() + pos.transpose(2, 0, 1)[None, None] +
        time[None, :, :, None, None])
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-12)


def test_official_initialisation():
    model = TimeSformer(
        depth=3, num_frames=7, H=2, W=3, embed_dim=8, num_heads=2)
    assert torch.count_nonzero(model.time_embed) == 0
    assert 0 < model.pos_embed.std() < 0.05
    for blk in model.blocks:  # the official loop zeroes every block's
        assert torch.count_nonzero(blk.temporal_fc.weight) == 0
        assert torch.count_nonzero(blk.temporal_fc.bias) == 0
        assert torch.count_nonzero(blk.attn.qkv.bias) == 0
        assert 0 < blk.mlp.fc1.weight.std() < 0.05


def test_stochastic_depth_schedule():
    model = TimeSformer(
        depth=3, H=2, W=3, embed_dim=8, num_heads=2, drop_path_rate=0.1)
    assert isinstance(model.blocks[0].drop_path, torch.nn.Identity)
    rates = [blk.drop_path.drop_prob for blk in model.blocks[1:]]
    assert rates == pytest.approx([0.05, 0.1])


def test_rejects_wrong_channels():
    model = TimeSformer(depth=1, H=2, W=3, embed_dim=8, num_heads=2)
    with pytest.raises(ValueError, match=r'\[B, T, 8, H, W\]'):
        model(torch.zeros(1, 3, 4, 2, 3))
    with pytest.raises(ValueError, match='multiple of num_heads'):
        TimeSformer(embed_dim=10, num_heads=4)
