"""The TempCLR towers against plain ``transformers.BertModel`` (the oracle of
``hf_oracle.py``), the MMPT position ids, pooling and attention masks."""
import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

import vtg_tempclr  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tempclr.converters import convert_state_dict
from vtg_tempclr.models.embeddings import mmpt_position_ids
from vtg_tempclr.models.encoders import (BertTextEncoder,
                                         extended_attention_mask)
from vtg_tempclr.models.pooling import (masked_mean, pool_text_states,
                                        pool_video_states)

_spec = importlib.util.spec_from_file_location(
    '_tempclr_hf_oracle',
    Path(__file__).with_name('hf_oracle.py'))
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

VIDEO_LAYERS, INPUT_DIM, MAX_VIDEO_LEN, CLS, SEP = 1, 8, 6, 2, 3


def build(bert, **kwargs):
    return MODELS.build(
        dict(
            type='TempCLRDualEncoder',
            bert_config={
                'attn_implementation': 'eager',
                **bert
            },
            video_layers=VIDEO_LAYERS,
            input_dim=INPUT_DIM,
            max_video_len=MAX_VIDEO_LEN,
            cls_token_id=CLS,
            sep_token_id=SEP,
            **kwargs)).eval()


@pytest.fixture
def official(tiny_bert_config):
    return oracle.official_state_dict(tiny_bert_config, VIDEO_LAYERS,
                                      INPUT_DIM)


@pytest.fixture
def model64(tiny_bert_config, official):
    model = build(tiny_bert_config).double()
    model.load_state_dict(convert_state_dict(official)[0])
    return model


def inputs_for(num_video, seed=0):
    return oracle.random_inputs(4, num_video, INPUT_DIM, 9, CLS, SEP, 40, seed)


@pytest.mark.parametrize('num_video', [MAX_VIDEO_LEN, 4])
def test_video_tower_equals_hf_bert_oracle(model64, official, tiny_bert_config,
                                           num_video):
    # 4 < max_video_len puts the video [SEP] at position max_video_len + 1
    # after a gap: the oracle passes those position ids explicitly
    inputs = inputs_for(num_video)
    ref = oracle.oracle_forward(official, tiny_bert_config, VIDEO_LAYERS,
                                MAX_VIDEO_LEN, inputs)
    with torch.no_grad():
        states = model64.video_states(inputs['vfeats'].double(),
                                      inputs['vmasks'])
        pooled = model64.encode_video(inputs['vfeats'].double(),
                                      inputs['vmasks'])
        tokens = model64.video_token_states(inputs['vfeats'].double(),
                                            inputs['vmasks'])
    assert torch.allclose(states, ref['video_states'], atol=1e-10, rtol=1e-8)
    assert torch.allclose(pooled, ref['pooled_video'], atol=1e-10, rtol=1e-8)
    assert torch.equal(tokens, states[:, 1:num_video + 1])


def test_text_tower_equals_hf_bert_and_hand_pooling(model64, official,
                                                    tiny_bert_config):
    inputs = inputs_for(MAX_VIDEO_LEN)
    ref = oracle.oracle_forward(official, tiny_bert_config, VIDEO_LAYERS,
                                MAX_VIDEO_LEN, inputs)
    with torch.no_grad():
        pooled = model64.encode_text(inputs['caps'], inputs['cmasks'])
    assert torch.allclose(pooled, ref['pooled_text'], atol=1e-10, rtol=1e-8)


def test_position_ids_follow_mmpt_offsets():
    assert mmpt_position_ids(3, 2, 6).tolist() == [[0, 1, 2, 3, 7]]
    assert mmpt_position_ids(6, 2, 6).tolist() == [list(range(8))]
    assert mmpt_position_ids(2, 4, 6).tolist() == [[0, 1, 2, 7, 8, 9]]


def test_video_position_offset_changes_the_output(tiny_bert_config, official):
    # the same weights with another max_video_len move the [SEP] position
    inputs = inputs_for(4)
    outs = []
    for max_video_len in (4, MAX_VIDEO_LEN):
        model = MODELS.build(
            dict(
                type='TempCLRDualEncoder',
                bert_config=dict(
                    tiny_bert_config, attn_implementation='eager'),
                video_layers=VIDEO_LAYERS,
                input_dim=INPUT_DIM,
                max_video_len=max_video_len,
                cls_token_id=CLS,
                sep_token_id=SEP)).eval()
        model.load_state_dict(convert_state_dict(official)[0])
        with torch.no_grad():
            outs.append(model.encode_video(inputs['vfeats'], inputs['vmasks']))
    assert not torch.allclose(outs[0], outs[1], atol=1e-3)


def test_pooling_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    states = torch.randn(3, 7, 5, generator=gen, dtype=torch.float64)
    vmasks = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]],
                          dtype=torch.bool)
    cmasks = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1],
                           [1, 1, 1, 0, 0, 0, 0, 0]],
                          dtype=torch.bool)
    for r in range(3):
        # video: positions 1..5 where valid, and the [SEP] at 6
        keep = [1 + j for j in range(5) if vmasks[r, j]] + [6]
        want = sum(states[r, p] for p in keep) / len(keep)
        assert torch.allclose(pool_video_states(states, vmasks)[r], want)
        # text (states of [CLS] caps[2:]): positions 1.. where caps[2:] valid
        keep = [1 + j for j in range(6) if cmasks[r, 2 + j]]
        want = sum(states[r, p] for p in keep) / len(keep)
        assert torch.allclose(pool_text_states(states, cmasks)[r], want)


def test_masked_mean_refuses_an_empty_row():
    with pytest.raises(ValueError, match=r'rows \[1\]'):
        masked_mean(torch.ones(2, 3, 4), torch.tensor([[1, 0, 0], [0, 0, 0]]))


def test_fully_masked_row_minus_10000_differs_from_finfo_min(
        tiny_bert_config, official):
    """MMPT's -10000 shifts every score of a fully masked row equally, so
    that row attends as if unmasked; transformers 4.57's finfo.min swamps
    the scores, giving uniform attention."""
    config = BertConfig(**tiny_bert_config, attn_implementation='eager')
    tower = BertTextEncoder(config).double().eval()
    weights = {
        k[len('mmmodel.text_encoder.'):]: v.double()
        for k, v in official.items() if k.startswith('mmmodel.text_encoder.')
        and not k.endswith('position_ids')
    }
    tower.load_state_dict(weights)
    hf = BertModel(config).double().eval()
    hf.load_state_dict(weights)
    ids = torch.tensor([[2, 7, 8, 9, 3], [2, 10, 11, 12, 3]])
    masked = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    with torch.no_grad():
        ours = tower(ids, masked)
        ours_unmasked = tower(ids, torch.ones_like(masked))
        theirs = hf(
            input_ids=ids,
            attention_mask=masked,
            token_type_ids=torch.zeros_like(ids)).last_hidden_state
    assert torch.allclose(ours[1], ours_unmasked[1], atol=1e-10)
    assert torch.allclose(ours[0], theirs[0], atol=1e-10)  # a normal row
    assert (ours[1] - theirs[1]).abs().max() > 1e-3


def test_extended_mask_layouts():
    mask = torch.tensor([[1, 0, 1]], dtype=torch.bool)
    ext = extended_attention_mask(mask, torch.float32)
    assert ext.shape == (1, 1, 1, 3)
    assert ext.flatten().tolist() == [0.0, -10000.0, 0.0]
    assert extended_attention_mask(torch.ones(2, 3, 3),
                                   torch.float32).shape == (2, 1, 3, 3)
    assert extended_attention_mask(torch.ones(2, 4, 3, 3),
                                   torch.float32).shape == (2, 4, 1, 3, 3)


def test_per_layer_masks_reach_their_layer(model64):
    tower = model64.text_encoder
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64)
    first = torch.tensor([[1, 1, 0, 0, 1], [1, 1, 1, 1, 1]])
    second = torch.tensor([[1, 0, 1, 1, 1], [1, 1, 1, 0, 0]])
    pairs = torch.stack(
        [m[:, None, :].expand(2, 5, 5) for m in (first, second)], dim=1)
    with torch.no_grad():
        ours = tower.run_layers(hidden, pairs)
        step = tower.encoder.layer[0](
            hidden,
            attention_mask=extended_attention_mask(first, torch.float64))[0]
        want = tower.encoder.layer[1](
            step,
            attention_mask=extended_attention_mask(second, torch.float64))[0]
        shared = tower.run_layers(hidden, first)
    assert torch.allclose(ours, want, atol=1e-12)
    assert not torch.allclose(ours, shared, atol=1e-4)


def test_sdpa_matches_eager(tiny_bert_config, official):
    inputs = inputs_for(4)
    outs = []
    for attn in ('eager', 'sdpa'):
        model = build(dict(tiny_bert_config, attn_implementation=attn))
        model.load_state_dict(convert_state_dict(official)[0])
        with torch.no_grad():
            outs.append((model.encode_video(inputs['vfeats'],
                                            inputs['vmasks']),
                         model.encode_text(inputs['caps'], inputs['cmasks'])))
    assert type(model.text_encoder.encoder.layer[0].attention.self
                ).__name__ == 'BertSdpaSelfAttention'
    for eager, sdpa in zip(*outs):
        assert torch.allclose(eager, sdpa, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('attn', ['eager', 'sdpa'])
def test_autocast_runs_close_to_float32(tiny_bert_config, official, dtype,
                                        attn):
    model = build(dict(tiny_bert_config, attn_implementation=attn))
    model.load_state_dict(convert_state_dict(official)[0])
    inputs = inputs_for(4)
    with torch.no_grad():
        ref = model.encode_video(inputs['vfeats'], inputs['vmasks'])
        with torch.autocast('cpu', dtype=dtype):
            video = model.encode_video(inputs['vfeats'], inputs['vmasks'])
            text = model.encode_text(inputs['caps'], inputs['cmasks'])
    assert torch.isfinite(video).all() and torch.isfinite(text).all()
    assert (video.float() - ref).abs().max() < 0.1 * ref.abs().max()
