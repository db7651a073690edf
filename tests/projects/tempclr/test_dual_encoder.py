"""TempCLRDualEncoder: trainable sets, the weighted losses, predict, the
data path and loading HF BERT weights."""
import importlib.util
import random
from pathlib import Path

import pytest
import torch
from mmengine.structures import BaseDataElement
from transformers import BertConfig, BertForPreTraining, BertModel

import vtg_tempclr  # noqa: F401
from vtg_plugins.registry import MODELS, TRANSFORMS
from vtg_tempclr.converters import convert_state_dict
from vtg_tempclr.models.losses import (SymmetricContrastiveLoss,
                                       TemporalAlignmentLoss)

_spec = importlib.util.spec_from_file_location(
    '_tempclr_hf_oracle',
    Path(__file__).with_name('hf_oracle.py'))
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

INPUT_DIM, MAX_VIDEO_LEN, CLS, SEP = 8, 6, 2, 3
ALIGNMENT = dict(
    type='TemporalAlignmentLoss',
    clip_per_video=4,
    sampling_threshold=3,
    total_sample_size=4)


def build(bert, video_layers=1, **kwargs):
    return MODELS.build(
        dict(
            type='TempCLRDualEncoder',
            bert_config=dict(bert, attn_implementation='eager'),
            video_layers=video_layers,
            input_dim=INPUT_DIM,
            max_video_len=MAX_VIDEO_LEN,
            cls_token_id=CLS,
            sep_token_id=SEP,
            **kwargs))


def layernorm_names(video_layers, text_layers):
    """Every LayerNorm parameter of the official module tree, written out."""
    owners = [
        'video_encoder.videomlp.LayerNorm',
        'video_encoder.bert.embeddings.LayerNorm',
        'text_encoder.embeddings.LayerNorm'
    ]
    for tower, layers in (('video_encoder.bert', video_layers),
                          ('text_encoder', text_layers)):
        for i in range(layers):
            owners += [
                f'{tower}.encoder.layer.{i}.attention.output.LayerNorm',
                f'{tower}.encoder.layer.{i}.output.LayerNorm'
            ]
    return {f'{o}.{p}' for o in owners for p in ('weight', 'bias')}


def inputs_for(num, seed=0):
    return oracle.random_inputs(num, MAX_VIDEO_LEN, INPUT_DIM, 9, CLS, SEP, 40,
                                seed)


def test_layernorm_mode_trains_exactly_the_layernorms(tiny_bert_config):
    model = build(tiny_bert_config, trainable='layernorm')
    trains = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trains == layernorm_names(1, 2)
    assert 'video_encoder.videomlp.LayerNorm.weight' in trains
    # the gradient reaches exactly those parameters
    inputs = inputs_for(3)
    model.loss(inputs, [BaseDataElement()
                        for _ in range(3)])['loss_contrastive'].backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == trains


def test_all_mode_trains_all_but_the_poolers(tiny_bert_config):
    model = build(tiny_bert_config, trainable='all')
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        f'{t}pooler.dense.{p}'
        for t in ('video_encoder.bert.', 'text_encoder.')
        for p in ('weight', 'bias')
    }
    model.loss(inputs_for(3),
               [BaseDataElement()
                for _ in range(3)])['loss_contrastive'].backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert missing == []


def test_contrastive_loss_alone(tiny_bert_config):
    model = build(tiny_bert_config).eval()
    inputs = inputs_for(3)
    losses = model.loss(inputs, [BaseDataElement() for _ in range(3)])
    video = model.encode_video(inputs['vfeats'], inputs['vmasks'])
    text = model.encode_text(inputs['caps'], inputs['cmasks'])
    assert set(losses) == {'loss_contrastive'}
    assert torch.allclose(losses['loss_contrastive'],
                          SymmetricContrastiveLoss()(video, text))


def _video_samples():
    """Two videos of 4 clips; clip bounds in seconds."""
    starts = [
        torch.tensor([0., 5., 11., 20.]),
        torch.tensor([0., 2., 9., 30.])
    ]
    return [
        BaseDataElement(
            num_video_rows=4,
            num_text_rows=4,
            text_start=s,
            text_end=s + 3,
            video_start=s,
            video_end=s + 3) for s in starts
    ]


def test_weighted_alignment_and_contrastive_terms(tiny_bert_config):
    w = 0.7
    model = build(
        tiny_bert_config, alignment_loss=ALIGNMENT,
        alignment_loss_weight=w).eval()
    inputs = inputs_for(8)
    samples = _video_samples()
    random.seed(5)
    losses = model.loss(inputs, samples)
    video = model.encode_video(inputs['vfeats'], inputs['vmasks'])
    text = model.encode_text(inputs['caps'], inputs['cmasks'])
    bounds = [
        torch.cat([s.get(f) for s in samples])
        for f in ('text_start', 'text_end', 'video_start', 'video_end')
    ]
    align = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=3, total_sample_size=4)
    random.seed(5)
    want_alignment = align(video, text, *bounds)
    assert want_alignment > 0
    assert torch.allclose(losses['loss_contrastive'],
                          (1 - w) * SymmetricContrastiveLoss()(video, text))
    assert torch.allclose(losses['loss_alignment'], w * want_alignment)


def test_predict_sets_one_feature_per_sample(tiny_bert_config):
    model = build(tiny_bert_config).eval()
    inputs = inputs_for(3)
    samples = [
        BaseDataElement(num_video_rows=1, num_text_rows=1, sample_idx=i)
        for i in range(3)
    ]
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
        video = model.encode_video(inputs['vfeats'], inputs['vmasks'])
        text = model.encode_text(inputs['caps'], inputs['cmasks'])
    for i, sample in enumerate(out):
        assert sample.sample_idx == i
        assert torch.equal(sample.video_feature, video[i])
        assert torch.equal(sample.text_feature, text[i])


def test_packed_items_through_the_preprocessor(tiny_bert_config):
    """PackTempCLRInputs -> TempCLRDataPreprocessor (a list of items) ->
    loss, with a two-video item (a list of samples) and a one-video item."""
    model = build(tiny_bert_config, alignment_loss=ALIGNMENT)
    pack = TRANSFORMS.build(
        dict(
            type='PackTempCLRInputs',
            meta_keys=('text_start', 'text_end', 'video_start', 'video_end')))
    rows = inputs_for(12)
    samples = _video_samples() + _video_samples()[:1]
    items = []
    for first, count in ((0, 8), (8, 4)):
        sl = slice(first, first + count)
        videos = samples[:2] if first == 0 else samples[2:]
        packed = [
            pack(
                dict(
                    vfeats=rows['vfeats'][sl][4 * j:4 * j + 4],
                    vmasks=rows['vmasks'][sl][4 * j:4 * j + 4],
                    caps=rows['caps'][sl][4 * j:4 * j + 4],
                    cmasks=rows['cmasks'][sl][4 * j:4 * j + 4],
                    **{
                        k: v.get(k)
                        for k in ('text_start', 'text_end', 'video_start',
                                  'video_end')
                    })) for j, v in enumerate(videos)
        ]
        items.append(
            dict(
                inputs={
                    k: torch.cat([p['inputs'][k] for p in packed])
                    for k in packed[0]['inputs']
                },
                data_samples=[p['data_samples'] for p in packed]))
    data = model.data_preprocessor(
        dict(
            inputs=[i['inputs'] for i in items],
            data_samples=[i['data_samples'] for i in items]),
        training=True)
    assert len(data['data_samples']) == 3
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_contrastive', 'loss_alignment'}
    assert torch.isfinite(sum(losses.values()))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_loss_under_autocast(tiny_bert_config, dtype):
    model = build(tiny_bert_config, alignment_loss=ALIGNMENT, trainable='all')
    with torch.autocast('cpu', dtype=dtype):
        losses = model.loss(inputs_for(8), _video_samples())
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.video_encoder.videomlp.linear1.weight.grad is not None


def _check_towers_hold(model, hf, video_layers):
    hf_sd = hf.state_dict()
    text_sd = model.text_encoder.state_dict()
    assert set(text_sd) == set(hf_sd)
    assert all(torch.equal(text_sd[k], hf_sd[k]) for k in hf_sd)
    video_sd = model.video_encoder.bert.state_dict()
    for key, value in video_sd.items():
        assert torch.equal(value, hf_sd[key]), key
    assert not any(
        k.startswith(f'encoder.layer.{video_layers}.') for k in video_sd)


def test_bert_checkpoint_safetensors_directory(tiny_bert_config, tmp_path):
    torch.manual_seed(0)
    hf = BertModel(BertConfig(**tiny_bert_config)).eval()
    hf.save_pretrained(tmp_path / 'bert')  # model.safetensors, no prefix
    model = build(tiny_bert_config, bert_checkpoint=str(tmp_path / 'bert'))
    mlp_before = model.video_encoder.videomlp.linear1.weight.clone()
    model.init_weights()
    _check_towers_hold(model, hf, video_layers=1)
    assert torch.equal(model.video_encoder.videomlp.linear1.weight, mlp_before)
    # the text tower now computes what the HF model computes
    caps = inputs_for(3)
    ids = torch.cat([caps['caps'][:, :1], caps['caps'][:, 2:]], 1)
    mask = torch.cat([caps['cmasks'][:, :1], caps['cmasks'][:, 2:]], 1)
    with torch.no_grad():
        ours = model.eval().text_encoder(ids, mask)
        theirs = hf(
            input_ids=ids,
            attention_mask=mask.long(),
            token_type_ids=torch.zeros_like(ids)).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_bert_checkpoint_pretraining_bin_with_gamma_beta(
        tiny_bert_config, tmp_path):
    """The original bert-base-uncased ``pytorch_model.bin`` layout:
    ``bert.`` prefix, LayerNorm ``gamma`` / ``beta``, ``cls.*`` heads."""
    torch.manual_seed(1)
    pretraining = BertForPreTraining(BertConfig(**tiny_bert_config))
    old_names = {
        k.replace('LayerNorm.weight', 'LayerNorm.gamma').replace(
            'LayerNorm.bias', 'LayerNorm.beta'):
        v
        for k, v in pretraining.state_dict().items()
    }
    assert any(k.startswith('cls.') for k in old_names)
    torch.save(old_names, tmp_path / 'pytorch_model.bin')
    model = build(
        tiny_bert_config,
        video_layers=2,
        bert_checkpoint=str(tmp_path / 'pytorch_model.bin'))
    model.init_weights()
    _check_towers_hold(model, pretraining.bert, video_layers=2)


def test_init_cfg_loads_a_converted_checkpoint(tiny_bert_config, tmp_path):
    official = oracle.official_state_dict(tiny_bert_config, 1, INPUT_DIM)
    ours, _ = convert_state_dict(official)
    torch.save(dict(meta={}, state_dict=ours), tmp_path / 'converted.pth')
    model = build(
        tiny_bert_config,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'converted.pth')))
    assert not torch.equal(model.text_encoder.pooler.dense.weight,
                           ours['text_encoder.pooler.dense.weight'])
    model.init_weights()
    loaded = model.state_dict()
    assert set(loaded) == set(ours)
    assert all(torch.equal(loaded[k], ours[k]) for k in ours)
