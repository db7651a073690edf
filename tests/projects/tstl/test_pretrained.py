"""Loading pretrained CLIP / VideoMAE checkpoints into TSTLBackbone.

Fake checkpoints with the real key names: a tiny open_clip
``VisionTransformer`` (TorchScript archive like OpenAI's, and an open_clip
state dict) and a tiny MMAction2 ``vit_mae.VisionTransformer`` (MMAction2
naming, and the official VideoMAE naming written out here). The loaded
backbone is compared with those reference models' own forward passes.
"""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vtg_tstl  # noqa: F401  (vtg_plugins and mmaction first)
from mmaction.models.backbones.vit_mae import VisionTransformer as MMViT
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from open_clip.model import QuickGELU
from open_clip.transformer import VisionTransformer as OpenCLIPViT
from timm.layers import resample_abs_pos_embed
from vtg_tstl.models.backbone import TSTLBackbone
from vtg_tstl.models.pretrained import (load_pretrained_clip,
                                        load_pretrained_videomae)

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'tstl' / 'tools' \
    / 'convert_pretrained.py'
D, HEADS, FRAMES = 64, 4, 4


def _randomize(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter ``randn * 0.05`` (LayerNorm weights ``1 + ...``)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                one = isinstance(m, nn.LayerNorm) and name == 'weight'
                p.copy_(float(one) + 0.05 * torch.randn(p.shape, generator=g))
    return module.eval()


def _backbone(img: int = 32, depth: int = 2, **kw) -> TSTLBackbone:
    return TSTLBackbone(
        img_size=img,
        patch_size=8,
        embed_dim=D,
        depth=depth,
        num_heads=HEADS,
        num_frames=FRAMES,
        drop_path_rate=0.0,
        **kw).eval()


def _open_clip(img: int = 32,
               width: int = D,
               layers: int = 2,
               seed: int = 1) -> OpenCLIPViT:
    return _randomize(
        OpenCLIPViT(
            image_size=img,
            patch_size=8,
            width=width,
            layers=layers,
            heads=HEADS,
            mlp_ratio=4.0,
            output_dim=32,
            act_layer=QuickGELU), seed)


def _mm_vit(frames: int = FRAMES, seed: int = 2, **kw) -> MMViT:
    return _randomize(
        MMViT(
            img_size=32,
            patch_size=8,
            embed_dims=D,
            depth=2,
            num_heads=HEADS,
            num_frames=frames,
            tubelet_size=2,
            **kw), seed)


class _OpenAIArchive(nn.Module):
    """What OpenAI's TorchScript ``.pt`` holds: a model with ``.visual``."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, x):
        return self.visual(x)


def _clip_frames(x):
    """The CLIP expert's frames (one per tubelet: 1, 3, ...)."""
    return x[:, :, 1::2].transpose(1, 2).flatten(0, 1)


def _official_videomae(mm_state: dict) -> dict:
    """MMAction2 vit_mae names -> the official VideoMAE names."""
    out = {}
    for k, v in mm_state.items():
        k = k.replace('patch_embed.projection.', 'patch_embed.proj.')
        k = k.replace('mlp.layers.0.0.', 'mlp.fc1.')
        out[k.replace('mlp.layers.1.', 'mlp.fc2.')] = v
    return out


def test_openai_torchscript_lands_and_matches_open_clip(tmp_path):
    visual = _open_clip().half()  # OpenAI's archive holds fp16 weights
    path = tmp_path / 'ViT-tiny.pt'
    torch.jit.script(_OpenAIArchive(visual)).save(str(path))
    visual = visual.float()  # the reference: the same (rounded) weights
    bb = _backbone()
    res = load_pretrained_clip(bb, str(path))
    assert res.unexpected == ['proj'] and res.missing == []
    assert len(res.loaded) == 7 + 2 * 12
    pairs = [(bb.clip_conv1.weight, visual.conv1.weight),
             (bb.clip_class_embedding, visual.class_embedding),
             (bb.clip_ln_post.bias, visual.ln_post.bias),
             (bb.blocks[1].clip_attn.in_proj_weight,
              visual.transformer.resblocks[1].attn.in_proj_weight),
             (bb.blocks[0].clip_mlp.c_proj.bias,
              visual.transformer.resblocks[0].mlp.c_proj.bias),
             (bb.blocks[1].clip_ln_2.weight,
              visual.transformer.resblocks[1].ln_2.weight)]
    for ours, ref in pairs:
        assert torch.equal(ours, ref)

    x = torch.randn(
        2, 3, FRAMES, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        stem = visual._embeds(_clip_frames(x))
        torch.testing.assert_close(bb.clip_tokens(x), stem)
        s, _ = bb.blocks[0](stem, bb.videomae_tokens(x))
        torch.testing.assert_close(
            s, visual.transformer.resblocks[0](stem), atol=1e-5, rtol=1e-5)
        tokens = visual.transformer(stem)
        clip_feat, _ = bb(x)
    # the official pooling: ln_post of the mean of the per-frame cls tokens
    ref = visual.ln_post(tokens[:, 0].unflatten(0, (2, -1)).mean(1))
    torch.testing.assert_close(clip_feat, ref, atol=1e-5, rtol=1e-5)


def test_open_clip_state_dict_with_text_tower_and_ddp_prefix(tmp_path):
    visual = _open_clip()
    state = {f'module.visual.{k}': v for k, v in visual.state_dict().items()}
    state['module.token_embedding.weight'] = torch.zeros(10, 8)
    path = tmp_path / 'open_clip.pt'
    torch.save(dict(epoch=3, state_dict=state), path)
    bb = _backbone()
    res = load_pretrained_clip(bb, str(path))
    assert res.unexpected == ['proj']
    assert torch.equal(bb.clip_positional_embedding,
                       visual.positional_embedding)
    assert torch.equal(bb.blocks[1].clip_attn.out_proj.weight,
                       visual.transformer.resblocks[1].attn.out_proj.weight)
    # the rest of the backbone keeps its (official) init
    assert torch.count_nonzero(bb.blocks[0].S_Adapter.D_fc2.weight) == 0
    assert torch.count_nonzero(bb.blocks[0].attn.qkv.weight) > 0


@pytest.mark.parametrize('ckpt_img', [16, 48])
def test_clip_positions_are_resampled_to_the_backbone_grid(tmp_path, ckpt_img):
    visual = _open_clip(img=ckpt_img)
    path = tmp_path / 'clip.pth'
    torch.save(visual.state_dict(), path)  # a bare visual state dict
    bb = _backbone(img=32)
    load_pretrained_clip(bb, str(path))
    g = ckpt_img // 8
    ref = resample_abs_pos_embed(
        visual.positional_embedding.unsqueeze(0), [4, 4], [g, g],
        num_prefix_tokens=1,
        interpolation='bicubic',
        antialias=False)[0]
    assert bb.clip_positional_embedding.shape == (17, D)
    torch.testing.assert_close(bb.clip_positional_embedding, ref)
    assert torch.equal(bb.clip_positional_embedding[0],
                       visual.positional_embedding[0])


def test_clip_shapes_it_cannot_map_name_the_file_and_key(tmp_path):
    path = tmp_path / 'narrow.pth'
    torch.save(_open_clip(width=32).state_dict(), path)
    with pytest.raises(ValueError, match=r"narrow\.pth.*'class_embedding'"):
        load_pretrained_clip(_backbone(), str(path))
    state = _open_clip().state_dict()
    state['transformer.resblocks.0.ls_1.gamma'] = torch.ones(D)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r'narrow\.pth.*ls_1\.gamma'):
        load_pretrained_clip(_backbone(), str(path))
    torch.save({'token_embedding.weight': torch.zeros(3)}, path)
    with pytest.raises(ValueError, match='no CLIP image tower'):
        load_pretrained_clip(_backbone(), str(path))


def test_a_shallower_clip_leaves_the_missing_blocks_listed(tmp_path):
    path = tmp_path / 'one_layer.pth'
    torch.save(_open_clip(layers=1).state_dict(), path)
    res = load_pretrained_clip(_backbone(), str(path))
    assert res.missing and all(
        k.startswith('blocks.1.clip_') for k in res.missing)
    deep = _backbone(depth=1)
    torch.save(_open_clip(layers=2).state_dict(), path)
    res = load_pretrained_clip(deep, str(path))
    assert 'transformer.resblocks.1.ln_1.weight' in res.unexpected


def _videomae_features(mm: MMViT, x: torch.Tensor) -> torch.Tensor:
    """MMAction2's mean of the tokens before ``fc_norm``."""
    fc_norm, mm.fc_norm = mm.fc_norm, nn.Identity()
    try:
        with torch.no_grad():
            return mm(x)
    finally:
        mm.fc_norm = fc_norm


def test_mmaction2_videomae_lands_and_matches_its_forward(tmp_path):
    mm = _mm_vit()
    state = {f'backbone.{k}': v for k, v in mm.state_dict().items()}
    state['cls_head.fc_cls.weight'] = torch.zeros(5, D)
    path = tmp_path / 'vit_mae.pth'
    torch.save(dict(meta={}, state_dict=state), path)
    bb = _backbone()
    res = load_pretrained_videomae(bb, str(path))
    assert res.missing == []
    assert set(res.unexpected) == {
        'backbone.fc_norm.weight', 'backbone.fc_norm.bias',
        'cls_head.fc_cls.weight'
    }
    assert torch.equal(bb.patch_embed.proj.weight,
                       mm.patch_embed.projection.weight)
    assert torch.equal(bb.blocks[1].mlp.fc1.weight,
                       mm.blocks[1].mlp.layers[0][0].weight)
    assert torch.equal(bb.blocks[0].mlp.fc2.bias,
                       mm.blocks[0].mlp.layers[1].bias)
    assert torch.equal(bb.blocks[1].attn.v_bias, mm.blocks[1].attn.v_bias)
    # vmae_fc_norm stays freshly initialised, as the official loader does
    assert torch.equal(bb.vmae_fc_norm.weight, torch.ones(D))

    x = torch.randn(
        2, 3, FRAMES, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        _, feat = bb(x)
    ref = F.layer_norm(_videomae_features(mm, x), (D, ), eps=1e-6)
    torch.testing.assert_close(feat, ref, atol=1e-5, rtol=1e-5)

    load_pretrained_videomae(bb, str(path), map_fc_norm=True)
    with torch.no_grad():
        torch.testing.assert_close(bb(x)[1], mm(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('wrapper,prefix', [('model', 'encoder.'),
                                            ('module', '')])
def test_official_videomae_naming(tmp_path, wrapper, prefix):
    mm = _mm_vit()
    official = _official_videomae({
        k: v
        for k, v in mm.state_dict().items() if k != 'pos_embed'
    })
    state = {prefix + k: v for k, v in official.items()}
    extra = ({
        'decoder.blocks.0.norm1.weight': torch.ones(D),
        'mask_token': torch.zeros(1, 1, D)
    } if prefix else {
        'head.weight': torch.zeros(7, D)
    })
    state.update(extra)
    path = tmp_path / 'videomae.pth'
    torch.save({wrapper: state}, path)
    bb = _backbone()
    res = load_pretrained_videomae(bb, str(path))
    assert res.missing == []
    assert set(extra) <= set(res.unexpected)
    for key, value in official.items():
        if not key.startswith('fc_norm'):
            assert torch.equal(bb.state_dict()[key], value), key


def test_pos_embed_of_the_checkpoint(tmp_path):
    path = tmp_path / 'vit_mae.pth'
    bb = _backbone()
    # the sinusoid table of another frame count: the backbone keeps its own
    torch.save(_mm_vit(frames=8).state_dict(), path)
    load_pretrained_videomae(bb, str(path))
    torch.testing.assert_close(
        bb.pos_embed, get_sinusoid_encoding(2 * 16, D), atol=0, rtol=0)
    # a learned table, of the backbone's shape or not, cannot be kept
    for frames in (FRAMES, 8):
        torch.save(
            _mm_vit(frames=frames, use_learnable_pos_emb=True).state_dict(),
            path)
        with pytest.raises(ValueError, match=r'vit_mae\.pth: pos_embed'):
            load_pretrained_videomae(bb, str(path))


def test_image_patch_embedding_is_inflated(tmp_path):
    official = _official_videomae(_mm_vit().state_dict())
    image_kernel = official['patch_embed.proj.weight'][:, :, 0].clone()
    official['patch_embed.proj.weight'] = image_kernel
    path = tmp_path / 'image.pth'
    torch.save(official, path)
    bb = _backbone()
    load_pretrained_videomae(bb, str(path))
    # a static clip gives the 2-D response of its frame
    frame = torch.randn(1, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, 2, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(
            bb.patch_embed.proj(clip)[:, :, 0],
            F.conv2d(frame, image_kernel, bb.patch_embed.proj.bias, 8))
    official['patch_embed.proj.weight'] = image_kernel.unsqueeze(2).repeat(
        1, 1, 4, 1, 1)
    torch.save(official, path)
    with pytest.raises(
            ValueError, match=r"image\.pth.*'patch_embed\.proj\.weight'"):
        load_pretrained_videomae(bb, str(path))


def test_layer_scale_is_refused(tmp_path):
    path = tmp_path / 'ls.pth'
    torch.save(_mm_vit(init_values=0.1).state_dict(), path)
    with pytest.raises(ValueError, match=r"ls\.pth.*'blocks\.0\.gamma_1'"):
        load_pretrained_videomae(_backbone(), str(path))


def test_init_weights_and_a_url(tmp_path, monkeypatch):
    visual, mm = _open_clip(), _mm_vit()
    served = tmp_path / 'served.pt'
    torch.jit.script(_OpenAIArchive(visual)).save(str(served))
    vmae = tmp_path / 'vmae.pth'
    torch.save(mm.state_dict(), vmae)
    # nothing downloads: the hub "download" copies the served file
    monkeypatch.setattr(
        torch.hub, 'download_url_to_file',
        lambda url, dst, *a, **k: Path(dst).write_bytes(served.read_bytes()))
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    bb = _backbone(
        clip_pretrained='https://example.invalid/ViT-tiny.pt',
        videomae_pretrained=str(vmae))
    bb.init_weights()
    assert (tmp_path / 'hub' / 'checkpoints' / 'ViT-tiny.pt').is_file()
    assert torch.equal(bb.clip_conv1.weight, visual.conv1.weight)
    assert torch.equal(bb.blocks[1].attn.qkv.weight,
                       mm.blocks[1].attn.qkv.weight)


def _convert_tool():
    spec = importlib.util.spec_from_file_location('_tstl_convert', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_convert_tool_writes_a_backbone_checkpoint(tmp_path, capsys):
    visual, mm = _open_clip(img=48), _mm_vit()
    clip, vmae, out = (tmp_path / n for n in ('c.pth', 'v.pth', 'out.pth'))
    torch.save(visual.state_dict(), clip)
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in mm.state_dict().items()
        }), vmae)
    _convert_tool().main([
        '--clip',
        str(clip), '--videomae',
        str(vmae), '--out',
        str(out), '--img-size', '32', '--num-frames',
        str(FRAMES), '--patch-size', '8', '--embed-dim',
        str(D), '--depth', '2', '--num-heads',
        str(HEADS)
    ])
    assert 'backbone tensors' in capsys.readouterr().out
    state = torch.load(out, weights_only=False)['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    assert len(state) == 31 + 2 + 2 * 13
    assert state['backbone.clip_positional_embedding'].shape == (17, D)
    # a config's init_cfg reads it back into a fresh backbone
    bb = _backbone(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(out), prefix='backbone.'))
    bb.init_weights()
    assert torch.equal(bb.blocks[0].mlp.fc1.weight,
                       mm.blocks[0].mlp.layers[0][0].weight)
    assert torch.equal(bb.clip_positional_embedding,
                       state['backbone.clip_positional_embedding'])
    assert torch.count_nonzero(bb.blocks[0].cross_s_up.weight) == 0
