"""TSTLBackbone at tiny sizes: shapes, the official freezing rule and init,
the attention entry point, batch independence, autocast, activation
checkpointing and drop path."""
import re
from unittest import mock

import pytest
import torch
import torch.nn as nn

import vtg_tstl  # noqa: F401
from vtg_plugins.testing import ref_path
from vtg_tstl.models import TSTLBackbone
from vtg_tstl.models import attention as attention_mod
from vtg_tstl.models import backbone as backbone_mod
from vtg_tstl.models.backbone import TRAINABLE_KEYS, is_trainable
from vtg_tstl.models.blocks import ClipDropPath, QuickGELU

TINY = dict(
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    num_frames=4,
    tubelet_size=2,
    drop_path_rate=0.0)


def tiny(**kw) -> TSTLBackbone:
    torch.manual_seed(0)
    return TSTLBackbone(**{**TINY, **kw})


def randomize(model: nn.Module, seed: int = 1, std: float = 0.05) -> None:
    """Every parameter ``randn * std`` (LayerNorm weights ``1 + ...``), as
    the parity fixture does, so that no branch is zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(1.0)


def clips(n: int, model: TSTLBackbone, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(
        n,
        model.in_channels,
        model.num_frames,
        model.img_size,
        model.img_size,
        generator=g)


@pytest.mark.parametrize('img,patch,frames,tubelet', [(32, 8, 4, 2),
                                                      (32, 8, 8, 2),
                                                      (32, 16, 8, 4),
                                                      (24, 8, 2, 1)])
def test_shapes_follow_the_sizes(img, patch, frames, tubelet):
    model = tiny(
        img_size=img,
        patch_size=patch,
        num_frames=frames,
        tubelet_size=tubelet).eval()
    num_p, num_t = (img // patch)**2, frames // tubelet
    seen = []
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        clip_feat, vmae_feat = model(clips(3, model))
    assert clip_feat.shape == vmae_feat.shape == (3, 32)
    s, t = seen[0]
    assert s.shape == (3 * num_t, 1 + num_p, 32)
    assert t.shape == (3, num_t * num_p, 32)
    blk = model.blocks[0]
    assert blk.t2s_cross.clip_time_pos.shape == (num_t, 16)
    assert blk.s2t_cross.vmae_space_pos.shape == (num_p, 16)
    assert model.clip_positional_embedding.shape == (num_p + 1, 32)
    assert model.pos_embed.shape == (1, num_t * num_p, 32)
    assert 'pos_embed' not in model.state_dict()


def test_pos_embed_is_the_sinusoid_table():
    model = tiny()
    n, d = model.pos_embed.shape[1:]
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(d)
    angle = pos / torch.pow(10000.0, (2 * (i // 2)).double() / d)
    table = torch.where(i % 2 == 0, angle.sin(), angle.cos()).float()
    torch.testing.assert_close(model.pos_embed[0], table, atol=1e-6, rtol=0)


def test_bad_sizes_and_inputs_are_refused():
    with pytest.raises(ValueError, match='multiple of patch_size'):
        tiny(img_size=30)
    with pytest.raises(ValueError, match='multiple of tubelet_size'):
        tiny(num_frames=5)
    with pytest.raises(ValueError, match='expected input'):
        tiny()(torch.zeros(1, 3, 2, 32, 32))


def _official_keys(path) -> dict:
    """Official full-size keys (block 0 only) -> trainable flag."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith('#'):
            continue
        key, _, _, trainable = line.split('\t')
        if not re.match(r'blocks\.[1-9]', key):
            out[key] = trainable == 'True'
    return out


@pytest.mark.parametrize('listing', ['state_dict_bidir.txt', 'state_dict.txt'])
def test_names_and_freezing_match_the_official_model(listing):
    """Our backbone's names are the official ones and the trainable ones
    are exactly those the official rule trains (block 0 stands for all)."""
    official = _official_keys(ref_path('tstl', listing))
    official = {
        k: v
        for k, v in official.items()
        if not k.startswith(('head', 'noun_last', 'verb_last'))
    }
    model = tiny()
    ours = {
        k: p.requires_grad
        for k, p in model.named_parameters() if not k.startswith('blocks.1.')
    }
    assert ours == official
    assert all(p.requires_grad for p in tiny(frozen=False).parameters())


def test_trainable_rule_is_the_official_list():
    assert TRAINABLE_KEYS == ('cross', 'clip_space_time_pos', 'clip_time_pos',
                              'vmae_time_pos', 'Adapter', 'ln_post',
                              'vmae_fc_norm', 'last_proj', 'fusion', 'head')
    assert is_trainable('blocks.3.t2s_cross.clip_time_pos')
    assert not is_trainable('blocks.3.clip_attn.in_proj_weight')


def test_official_init():
    model = tiny(embed_dim=64, num_heads=4)
    for blk in model.blocks:
        for name in ('S_Adapter', 'T_Adapter', 'S_MLP_Adapter',
                     'T_MLP_Adapter'):
            fc2 = getattr(blk, name).D_fc2
            assert not fc2.weight.any() and not fc2.bias.any()
        for up in (blk.cross_s_up, blk.cross_t_up):
            assert not up.weight.any() and not up.bias.any()
        w = blk.mlp.fc1.weight
        assert 0.015 < w.std() < 0.025 and not blk.mlp.fc1.bias.any()
        assert torch.equal(blk.norm1.weight, torch.ones(64))
        assert blk.norm1.eps == 1e-6 and blk.clip_ln_1.eps == 1e-5
        assert blk.ln_s_cross.eps == 1e-6
    assert model.clip_ln_pre.eps == model.clip_ln_post.eps == 1e-5
    assert model.vmae_fc_norm.eps == 1e-6


def _noise(s, t):
    """A stand-in B-CAST output: anything of the right shape."""
    return torch.randn_like(s), torch.randn_like(t)


def test_official_init_bcast_contributes_nothing():
    """With the official init (zero up-projections) whatever the B-CAST
    attentions return leaves the output unchanged; once the
    up-projections are not zero it changes it."""
    model = tiny().eval()
    x = clips(2, model)
    with torch.no_grad():
        ref = model(x)
        with mock.patch.object(type(model.blocks[0].t2s_cross), 'forward',
                               lambda self, s, t: torch.randn_like(s)), \
                mock.patch.object(type(model.blocks[0].s2t_cross), 'forward',
                                  lambda self, s, t: torch.randn_like(t)):
            noisy = model(x)
            for blk in model.blocks:
                nn.init.normal_(blk.cross_s_up.weight)
                nn.init.normal_(blk.cross_t_up.weight)
            changed = model(x)
    for a, b, c in zip(ref, noisy, changed):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
        assert (a - c).abs().max() > 1e-3


def test_clip_expert_sees_one_frame_per_tubelet():
    """Without B-CAST (official init) the CLIP feature depends on frames
    1 and 3 of a 4-frame clip only (the official ``1::2``)."""
    model = tiny().eval()
    x = clips(1, model)
    with torch.no_grad():
        base = model(x)[0]
        for frame, moves in ((0, False), (1, True), (2, False), (3, True)):
            y = x.clone()
            y[:, :, frame] += 1.0
            diff = (model(y)[0] - base).abs().max()
            assert (diff > 1e-4) == moves, (frame, float(diff))


def test_every_attention_goes_through_the_entry_point():
    """Four attentions per block, all through ``multi_head_attention``;
    the written-out formulation gives the same result as SDPA."""
    model = tiny()
    randomize(model)
    model.eval()
    x = clips(2, model)
    with torch.no_grad():
        ref = model(x)
        calls = []

        def explicit(q, k, v, dropout_p=0.0):
            calls.append(q.shape)
            return attention_mod.explicit_attention(q, k, v, dropout_p)

        with mock.patch.object(attention_mod, 'multi_head_attention',
                               explicit):
            plain = model(x)
    assert len(calls) == 4 * len(model.blocks)
    for a, b in zip(ref, plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        assert a.abs().max() > 0.1


def test_batch_independence():
    model = tiny()
    randomize(model)
    model.eval()
    x = clips(3, model)
    with torch.no_grad():
        whole = model(x)
        one = model(x[1:2])
    for a, b in zip(whole, one):
        torch.testing.assert_close(a[1:2], b, atol=1e-6, rtol=0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_forward(dtype):
    """Under autocast and with the whole model cast (DeepSpeed's bf16)."""
    model = tiny()
    randomize(model)
    model.eval()
    x = clips(2, model)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            low = model(x)
        cast = model.to(dtype)(x.to(dtype)) if dtype == torch.bfloat16 \
            else low
    for a, b, c in zip(ref, low, cast):
        assert b.dtype == c.dtype == dtype
        for out in (b, c):
            assert torch.isfinite(out).all()
            assert (a - out.float()).abs().max() < 0.05 * a.abs().max()


def _train_step(model, x, seed):
    torch.manual_seed(seed)
    model.zero_grad()
    clip_feat, vmae_feat = model(x)
    (clip_feat.square().sum() + vmae_feat.sum()).backward()
    grads = {
        k: p.grad.clone()
        for k, p in model.named_parameters() if p.requires_grad
    }
    return (clip_feat.detach(), vmae_feat.detach()), grads


def test_with_cp_gives_the_same_outputs_and_gradients():
    plain, cp = tiny(drop_path_rate=0.3), tiny(
        drop_path_rate=0.3, with_cp=True)
    randomize(plain)
    cp.load_state_dict(plain.state_dict())
    plain.train()
    cp.train()
    x = clips(2, plain)
    out_a, grads_a = _train_step(plain, x, seed=5)
    with mock.patch.object(
            backbone_mod, 'checkpoint',
            wraps=backbone_mod.checkpoint) as checkpointed:
        out_b, grads_b = _train_step(cp, x, seed=5)
    assert checkpointed.call_count == len(cp.blocks)
    for a, b in zip(out_a, out_b):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert grads_a.keys() == grads_b.keys()
    for k in grads_a:
        torch.testing.assert_close(
            grads_a[k], grads_b[k], atol=1e-6, rtol=1e-5)
    assert grads_a['blocks.0.S_Adapter.D_fc1.weight'].abs().max() > 0
    assert not any(p.grad is not None
                   for p in cp.parameters() if not p.requires_grad)


def test_drop_path_only_in_training():
    model, ref = tiny(drop_path_rate=0.5), tiny(drop_path_rate=0.0)
    randomize(model)
    ref.load_state_dict(model.state_dict())
    x = clips(4, model)
    with torch.no_grad():
        model.eval()
        ref.eval()
        for a, b in zip(model(x), ref(x)):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
        model.train()
        torch.manual_seed(0)
        first = model(x)
        second = model(x)
        ref.train()
        for a, b in zip(ref(x), ref.eval()(x)):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(first, second))
    assert model.blocks[0].drop_path.drop_prob == 0.0
    assert model.blocks[-1].drop_path.drop_prob == 0.5


def test_drop_path_draws_one_mask_per_clip():
    drop = ClipDropPath(0.5).train()
    torch.manual_seed(0)
    out = drop(torch.ones(8 * 3, 5, 4), num_clips=8)  # 8 clips x 3 frames
    per_clip = out.view(8, -1)
    assert set(per_clip.unique().tolist()) == {0.0, 2.0}
    assert (per_clip == per_clip[:, :1]).all()  # a clip is kept or dropped
    assert torch.equal(drop.eval()(out, 8), out)


def test_quick_gelu_gradient():
    """CLIP's activation keeps only its input for the backward; its
    gradient is the formula's."""
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(QuickGELU(), (x, ))
    y = x.detach().clone().requires_grad_()
    (y * torch.sigmoid(1.702 * y)).sum().backward()
    QuickGELU()(x).sum().backward()
    torch.testing.assert_close(x.grad, y.grad)


def test_init_weights_without_checkpoints_keeps_the_official_init():
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_init_weights_loads_both_checkpoints():
    """``init_weights`` hands each path to its loader."""
    model = tiny(clip_pretrained='clip.pt', videomae_pretrained='vmae.pth')
    with mock.patch.object(backbone_mod, 'load_pretrained_clip') as clip, \
            mock.patch.object(backbone_mod,
                              'load_pretrained_videomae') as vmae:
        model.init_weights()
    clip.assert_called_once_with(model, 'clip.pt')
    vmae.assert_called_once_with(model, 'vmae.pth')
