"""The open_clip wrapper reproduces R²-Tuning's CLIP towers
(vtg_plugins.features.clip)."""
import hashlib
import warnings

import open_clip
import pytest
import torch

from vtg_plugins.features.clip import (CLIP_ARCHS, CLIPEncoder,
                                             canonical_arch, file_sha256,
                                             load_clip_weights)
from vtg_plugins.registry import MODELS


@pytest.fixture
def encoder(helpers):
    torch.manual_seed(0)
    return CLIPEncoder('ViT-B/32', k=2, model_cfg=helpers.TINY_CLIP)


def test_video_tokens_equal_the_official_tower(encoder, helpers):
    frames = torch.randint(0, 256, (3, 3, 224, 224), dtype=torch.uint8)
    images = encoder.normalize(frames)
    torch.testing.assert_close(images, helpers.normalize(frames))
    out = encoder.encode_frames(images)
    assert out.shape == (3, 2, 50, 64) and out.dtype == torch.float32
    ref = helpers.reference_video_features(encoder.clip, images, k=2)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # layer 0 = block 2 (n - k + 1), layer 1 = the last block (3)
    assert encoder.visual_block_ids == [2, 3]
    assert not torch.allclose(out[:, 0], out[:, 1])
    with pytest.raises(ValueError, match=r'expects frames \[N, 3, 224, 224\]'):
        encoder.encode_frames(torch.zeros(1, 3, 112, 112))


def test_text_tokens_sot_to_eot(encoder, helpers):
    tokens = encoder.tokenize(['a dog', 'a man is talking to the camera'],
                              ids=['q1', 'q2'])
    assert tokens[0, :4].tolist() == [49406, 320, 1929, 49407]  # SOT a dog EOT
    feats = encoder.encode_tokens(tokens)
    assert [tuple(f.shape) for f in feats] == [(4, 2, 32), (9, 2, 32)]
    ref = helpers.reference_text_features(encoder.clip, tokens, k=2)
    for f, r, n in zip(feats, ref, (4, 9)):
        torch.testing.assert_close(f, r[:n], rtol=1e-5, atol=1e-5)
    # causal mask: the tokens of 'a dog' do not see the padding / later text
    alone = encoder.encode_tokens(encoder.tokenize(['a dog']))[0]
    torch.testing.assert_close(alone, feats[0], rtol=1e-5, atol=1e-5)
    assert encoder.text_block_ids == [2, 3]


def test_query_longer_than_context_names_its_id(encoder):
    long = ' '.join(['word'] * 80)  # 80 BPE tokens + SOT + EOT = 82
    with pytest.raises(ValueError, match=r"'q7' \(82 tokens\)") as err:
        encoder.tokenize(['short', long], ids=['q6', 'q7'])
    assert 'q6' not in str(err.value)
    tokens = encoder.tokenize([long], truncate=True)  # official truncate=True
    assert tokens.shape == (1, 77) and tokens[0, -1].item() == 49407
    assert encoder.encode_tokens(tokens)[0].shape == (77, 2, 32)


def test_loads_local_weights(tmp_path, helpers, encoder):
    model = helpers.save_tiny_checkpoint(tmp_path / 'w.pt', seed=3)
    loaded = CLIPEncoder(
        'ViT-B/32',
        k=2,
        model_cfg=helpers.TINY_CLIP,
        checkpoint=str(tmp_path / 'w.pt'))
    ours, theirs = model.state_dict(), loaded.clip.state_dict()
    assert len(ours) == len(theirs) > 0
    for (name, a), b in zip(ours.items(), theirs.values()):
        assert torch.equal(a, b), name
    # OpenAI releases TorchScript archives: a scripted CLIP loads too
    with warnings.catch_warnings():  # torch.jit.script is deprecated
        warnings.simplefilter('ignore', FutureWarning)
        torch.jit.script(model).save(str(tmp_path / 'jit.pt'))
    load_clip_weights(encoder.clip, tmp_path / 'jit.pt')
    assert torch.equal(encoder.clip.visual.conv1.weight,
                       model.visual.conv1.weight)
    # weights of another architecture: a clear error naming the file
    torch.save({'visual.conv1.weight': torch.zeros(1)}, tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='bad.pt'):
        load_clip_weights(encoder.clip, tmp_path / 'bad.pt')
    with pytest.raises(FileNotFoundError, match='nope.pt'):
        load_clip_weights(encoder.clip, tmp_path / 'nope.pt')
    digest = hashlib.sha256((tmp_path / 'w.pt').read_bytes()).hexdigest()
    assert file_sha256(tmp_path / 'w.pt') == digest


def test_fp16_precision_close_to_fp32(encoder, helpers):
    half = CLIPEncoder(
        'ViT-B/32', k=2, model_cfg=helpers.TINY_CLIP, precision='fp16')
    half.clip.load_state_dict(encoder.clip.state_dict())
    assert half.clip.visual.conv1.weight.dtype == torch.float16
    images = encoder.normalize(
        torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8))
    full = encoder.encode_frames(images)
    torch.testing.assert_close(
        half.encode_frames(images),
        full,
        rtol=0.02,
        atol=0.02 * full.abs().max().item())


def test_arch_table_and_errors(helpers):
    # (P tokens, visual width, text width) of the official _CLIP_ARCHS,
    # with P = (size / patch)^2 + 1 (the official L/14 entry says 50: a bug)
    expected = {
        'ViT-B/32': (50, 768, 512),
        'ViT-B/16': (197, 768, 512),
        'ViT-L/14': (257, 1024, 768),
        'ViT-L/14-336px': (577, 1024, 768)
    }
    for arch, (p, cv, cq) in expected.items():
        cfg = open_clip.get_model_config(CLIP_ARCHS[arch].open_clip_name)
        v = cfg['vision_cfg']
        assert cfg['quick_gelu'] is True  # OpenAI weights use QuickGELU
        assert ((v['image_size'] // v['patch_size'])**2 + 1, v['width'],
                cfg['text_cfg']['width']) == (p, cv, cq)
    assert canonical_arch('ViT-L/14-336') == 'ViT-L/14-336px'
    with pytest.raises(ValueError, match='unsupported CLIP architecture'):
        CLIPEncoder('RN50')
    with pytest.raises(ValueError, match='k=4 must lie in'):
        CLIPEncoder('ViT-B/32', k=4, model_cfg=helpers.TINY_CLIP)
    enc = MODELS.build(
        dict(type='CLIPEncoder', k=1, model_cfg=helpers.TINY_CLIP))
    assert isinstance(enc, CLIPEncoder) and not enc.training
    enc.train()
    assert not enc.clip.training


@pytest.mark.slow
def test_vit_b32_full_size(helpers):
    torch.manual_seed(0)
    enc = CLIPEncoder('ViT-B/32', k=4)
    images = enc.normalize(
        torch.randint(0, 256, (1, 3, 224, 224), dtype=torch.uint8))
    out = enc.encode_frames(images)
    assert out.shape == (1, 4, 50, 768)
    assert enc.visual_block_ids == [9, 10, 11, 12]
    torch.testing.assert_close(
        out,
        helpers.reference_video_features(enc.clip, images, k=4),
        rtol=1e-4,
        atol=1e-4)
    q = enc.encode_tokens(enc.tokenize(['a dog']))[0]
    assert q.shape == (4, 4, 512)
