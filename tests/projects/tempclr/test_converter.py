"""Official TempCLR checkpoints (synthetic, in the official layout written
out from the official module tree) -> our dual encoder."""
import argparse
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import vtg_tempclr  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tempclr.converters import (convert_checkpoint, convert_state_dict,
                                    infer_config, read_official_checkpoint)

HERE = Path(__file__).resolve()
TOOLS = HERE.parents[3] / 'projects' / 'tempclr' / 'tools'
_spec = importlib.util.spec_from_file_location('_tempclr_hf_oracle',
                                               HERE.with_name('hf_oracle.py'))
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)

VIDEO_LAYERS, INPUT_DIM, MAX_VIDEO_LEN, CLS, SEP = 1, 8, 6, 2, 3
OFFICIAL_NAMES = ('checkpoint_best.pt', 'checkpoint_layernorm_DTW.pt',
                  'checkpoint_layernorm_OTAM.pt',
                  'checkpoint_allparameters_DTW.pt')


def build(bert, **kwargs):
    return MODELS.build(
        dict(
            type='TempCLRDualEncoder',
            bert_config=dict(bert, attn_implementation='eager'),
            video_layers=VIDEO_LAYERS,
            input_dim=INPUT_DIM,
            max_video_len=MAX_VIDEO_LEN,
            cls_token_id=CLS,
            sep_token_id=SEP,
            **kwargs))


def fairseq_file(path, state_dict):
    """A file laid out like a fairseq checkpoint."""
    torch.save(
        dict(
            args=argparse.Namespace(arch='mmarch'),
            model=state_dict,
            optimizer_history=[dict(num_updates=3)],
            extra_state={}), path)
    return path


@pytest.fixture
def official(tiny_bert_config):
    return oracle.official_state_dict(tiny_bert_config, VIDEO_LAYERS,
                                      INPUT_DIM)


def test_key_list_is_the_official_tree(official):
    # 6 VideoTokenMLP + per tower 5 embedding + 16 per layer + 2 pooler,
    # + the two position_ids buffers transformers 3.x saved
    assert len(official) == 6 + (5 + 16 * 1 + 2) + (5 + 16 * 2 + 2) + 2
    ours, dropped = convert_state_dict(official)
    assert dropped == [
        'text_encoder.embeddings.position_ids',
        'video_encoder.bert.embeddings.position_ids'
    ]
    assert set(ours) == {
        k[len('mmmodel.'):]
        for k in official if not k.endswith('position_ids')
    }
    assert all(
        torch.equal(ours[k[len('mmmodel.'):]], v) for k, v in official.items()
        if not k.endswith('position_ids'))


def test_round_trip_through_the_model_is_lossless(tiny_bert_config, official):
    model = build(tiny_bert_config)
    model.load_state_dict(convert_state_dict(official)[0], strict=True)
    back = {'mmmodel.' + k: v for k, v in model.state_dict().items()}
    kept = {
        k: v
        for k, v in official.items() if not k.endswith('position_ids')
    }
    assert set(back) == set(kept)
    assert all(torch.equal(back[k], kept[k]) for k in kept)


def test_without_prefix_or_buffers_converts_the_same(tiny_bert_config,
                                                     official):
    bare = {
        k[len('mmmodel.'):]: v
        for k, v in official.items() if not k.endswith('position_ids')
    }
    ours, dropped = convert_state_dict(bare)
    want, _ = convert_state_dict(official)
    assert dropped == []
    assert ours.keys() == want.keys()
    assert all(torch.equal(ours[k], want[k]) for k in want)


def test_half_precision_and_seg_embeddings(tiny_bert_config):
    half = oracle.official_state_dict(
        tiny_bert_config, VIDEO_LAYERS, INPUT_DIM, dtype=torch.float16)
    half['mmmodel.video_encoder.bert.embeddings.seg_embeddings.weight'] = \
        torch.zeros(256, 16, dtype=torch.float16)
    ours, dropped = convert_state_dict(half)
    assert 'video_encoder.bert.embeddings.seg_embeddings.weight' in dropped
    key = 'text_encoder.encoder.layer.1.output.dense.weight'
    assert ours[key].dtype == torch.float32
    assert torch.equal(ours[key], half['mmmodel.' + key].float())


def test_infer_config_reads_the_sizes(official):
    ours, _ = convert_state_dict(official)
    assert infer_config(ours) == dict(
        hidden_size=16,
        vocab_size=40,
        max_position_embeddings=128,
        type_vocab_size=2,
        intermediate_size=32,
        num_hidden_layers=2,
        video_layers=1,
        input_dim=INPUT_DIM)


@pytest.mark.parametrize('name', OFFICIAL_NAMES)
def test_converted_file_loads_and_equals_the_oracle(tiny_bert_config, official,
                                                    tmp_path, name):
    src = fairseq_file(tmp_path / name, official)
    dst = tmp_path / 'converted.pth'
    convert_checkpoint(str(src), str(dst))
    saved = torch.load(dst, weights_only=False)
    assert saved['meta']['config']['num_hidden_layers'] == 2
    assert saved['meta']['source'].endswith(name)
    model = build(
        tiny_bert_config,
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    model.eval()
    inputs = oracle.random_inputs(3, 4, INPUT_DIM, 9, CLS, SEP, 40)
    ref = oracle.oracle_forward(official, tiny_bert_config, VIDEO_LAYERS,
                                MAX_VIDEO_LEN, inputs, torch.float32)
    with torch.no_grad():
        out = model(inputs, mode='tensor')
    assert torch.allclose(out['pooled_video'], ref['pooled_video'], atol=1e-5)
    assert torch.allclose(out['pooled_text'], ref['pooled_text'], atol=1e-5)


def test_unimportable_config_objects_are_tolerated(official, tmp_path):
    """fairseq stores its omegaconf ``cfg``; without omegaconf installed
    the weights must still be readable."""
    fake = types.ModuleType('_absent_omegaconf')

    class DictConfig:

        def __init__(self, content):
            self.content = content

    DictConfig.__module__ = fake.__name__
    DictConfig.__qualname__ = 'DictConfig'
    fake.DictConfig = DictConfig
    sys.modules[fake.__name__] = fake
    try:
        torch.save(
            dict(cfg=DictConfig({'task': 'x'}), model=official),
            tmp_path / 'ckpt.pt')
    finally:
        del sys.modules[fake.__name__]
    sd = read_official_checkpoint(str(tmp_path / 'ckpt.pt'))
    assert sd.keys() == official.keys()


def test_cli_writes_an_mmengine_checkpoint(official, tmp_path):
    src = fairseq_file(tmp_path / 'checkpoint_best.pt', official)
    dst = tmp_path / 'out' / 'tempclr.pth'
    dst.parent.mkdir()
    proc = subprocess.run(
        [sys.executable, TOOLS / 'convert_official.py', src, dst],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'wrote' in proc.stdout
    saved = torch.load(dst, weights_only=False)
    assert set(saved) == {'meta', 'state_dict'}
    assert len(saved['state_dict']) == len(official) - 2
    assert list(dst.parent.iterdir()) == [dst]  # no temporary left behind
