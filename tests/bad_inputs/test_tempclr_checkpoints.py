"""Bad TempCLR checkpoints, BERT weights, model configs and batches: each
gives an error naming the file / sample and what is wrong."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.structures import BaseDataElement
from transformers import BertConfig, BertModel

import vtg_tempclr  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tempclr.converters import (convert_checkpoint, convert_state_dict,
                                    read_official_checkpoint)

TESTS = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    '_tempclr_hf_oracle', TESTS / 'projects' / 'tempclr' / 'hf_oracle.py')
oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oracle)
_tool = importlib.util.spec_from_file_location(
    '_tempclr_convert_official',
    TESTS.parent / 'projects' / 'tempclr' / 'tools' / 'convert_official.py')
convert_official = importlib.util.module_from_spec(_tool)
_tool.loader.exec_module(convert_official)

BERT = dict(
    vocab_size=40,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=128,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0)
TEXT = 'mmmodel.text_encoder.'


def build(kind='TempCLRDualEncoder', bert=BERT, **kwargs):
    return MODELS.build(
        dict(
            type=kind,
            bert_config=dict(bert, attn_implementation='eager'),
            video_layers=1,
            input_dim=8,
            max_video_len=6,
            cls_token_id=2,
            sep_token_id=3,
            **kwargs))


@pytest.fixture
def official():
    return oracle.official_state_dict(BERT, 1, 8)


def _save(tmp_path, official, name='checkpoint_best.pt'):
    path = tmp_path / name
    torch.save(dict(model=official), path)
    return str(path)


# --- official checkpoints
def test_unknown_key_is_named_with_the_file(official, tmp_path):
    official[TEXT + 'cls.predictions.bias'] = torch.zeros(40)
    src = _save(tmp_path, official)
    with pytest.raises(
            ValueError,
            match=r'checkpoint_best\.pt.*'
            r'text_encoder\.cls\.predictions\.bias'):
        convert_checkpoint(src, str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


def test_missing_key_is_named(official, tmp_path):
    del official[TEXT + 'encoder.layer.1.intermediate.dense.bias']
    with pytest.raises(
            ValueError, match=r'layer\.1\.intermediate\.dense\.'
            r'bias'):
        convert_checkpoint(_save(tmp_path, official), str(tmp_path / 'o'))


def test_shape_mismatch_is_named(official, tmp_path):
    key = 'mmmodel.video_encoder.bert.encoder.layer.0.attention.self.key.bias'
    official[key] = torch.zeros(15)
    with pytest.raises(
            ValueError,
            match=r'checkpoint_best\.pt.*attention\.'
            r'self\.key\.bias has shape \[15\], expected \[16\]'):
        convert_checkpoint(_save(tmp_path, official), str(tmp_path / 'o'))


def test_mixed_prefixes_are_refused(official):
    key = TEXT + 'pooler.dense.bias'
    official[key[len('mmmodel.'):]] = official.pop(key)
    with pytest.raises(
            ValueError,
            match=r"pooler\.dense\.bias lacks the "
            r"'mmmodel\.' prefix"):
        convert_state_dict(official, 'f.pt')


def test_position_ids_must_be_arange(official):
    official[TEXT + 'embeddings.position_ids'] = torch.zeros(1, 128).long()
    with pytest.raises(
            ValueError,
            match=r'f\.pt: text_encoder\.embeddings\.'
            r'position_ids is not the fixed buffer arange'):
        convert_state_dict(official, 'f.pt')


def test_missing_file_and_file_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pt'):
        read_official_checkpoint(str(tmp_path / 'nope.pt'))
    torch.save(dict(args=None, optimizer_history=[]), tmp_path / 'x.pt')
    with pytest.raises(ValueError, match=r'x\.pt: no model state dict'):
        read_official_checkpoint(str(tmp_path / 'x.pt'))


def test_cli_reports_the_error(official, tmp_path, capsys):
    del official[TEXT + 'embeddings.LayerNorm.bias']
    src = _save(tmp_path, official, 'checkpoint_layernorm_OTAM.pt')
    assert convert_official.main([src, str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert 'checkpoint_layernorm_OTAM.pt' in err
    assert 'text_encoder.embeddings.LayerNorm.bias' in err


# --- converted checkpoints into the model
def test_pretrained_refuses_an_unconverted_file(official, tmp_path):
    src = _save(tmp_path, official)
    model = build(init_cfg=dict(type='Pretrained', checkpoint=src))
    with pytest.raises(ValueError, match='convert it first'):
        model.init_weights()


def test_pretrained_with_other_sizes_names_the_keys(official, tmp_path):
    dst = tmp_path / 'conv.pth'
    convert_checkpoint(_save(tmp_path, official), str(dst))
    model = build(
        bert=dict(BERT, num_hidden_layers=3),
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    with pytest.raises(
            ValueError,
            match=r'conv\.pth.*missing keys '
            r"\['text_encoder\.encoder\.layer\.2\."):
        model.init_weights()
    model = build(
        bert=dict(BERT, intermediate_size=24),
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    with pytest.raises(ValueError, match=r'shape mismatches.*intermediate'):
        model.init_weights()


def test_pretrained_missing_file(tmp_path):
    model = build(
        init_cfg=dict(
            type='Pretrained', checkpoint=str(tmp_path / 'gone.pth')))
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        model.init_weights()


# --- HF BERT weights
def test_bert_checkpoint_errors(tmp_path):
    model = build(bert_checkpoint=str(tmp_path / 'none'))
    with pytest.raises(FileNotFoundError, match='none does not exist'):
        model.init_weights()
    (tmp_path / 'empty').mkdir()
    model = build(bert_checkpoint=str(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match='holds none of'):
        model.init_weights()
    small = BertModel(BertConfig(**dict(BERT, num_hidden_layers=1)))
    small.save_pretrained(tmp_path / 'small')
    model = build(bert_checkpoint=str(tmp_path / 'small'))
    with pytest.raises(
            ValueError,
            match=r'model\.safetensors \(text tower\)'
            r".*missing keys \['encoder\.layer\.1\."):
        model.init_weights()
    torch.save({'decoder.weight': torch.zeros(2)}, tmp_path / 'other.bin')
    model = build(bert_checkpoint=str(tmp_path / 'other.bin'))
    with pytest.raises(
            ValueError,
            match=r'other\.bin: decoder\.weight is '
            'not a BERT weight'):
        model.init_weights()


# --- model configs
@pytest.mark.parametrize('kwargs, message', [
    (dict(bert=dict(BERT, num_layers=2)), r"unknown keys \['num_layers'\]"),
    (dict(trainable='head'), 'trainable must be one of'),
    (dict(init_cfg=dict(type='Normal')), 'init_cfg must be None or'),
    (dict(alignment_loss_weight=1.5), r'alignment_loss_weight must be in'),
])
def test_bad_model_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_token_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match='cls_token_id=101 is outside'):
        MODELS.build(
            dict(
                type='TempCLRDualEncoder',
                bert_config=BERT,
                video_layers=1,
                input_dim=8))


# --- batches
def _rows(num):
    return oracle.random_inputs(num, 6, 8, 9, 2, 3, 40)


def test_alignment_needs_clip_bounds():
    model = build(
        alignment_loss=dict(
            type='TemporalAlignmentLoss',
            clip_per_video=2,
            sampling_threshold=2,
            total_sample_size=2))
    bounds = dict(
        text_start=torch.tensor([0., 4.]),
        text_end=torch.tensor([2., 6.]),
        video_start=torch.tensor([0., 4.]))
    samples = [BaseDataElement(num_video_rows=2, **bounds)]
    with pytest.raises(ValueError, match="sample 0 has no 'video_end'"):
        model.loss(_rows(2), samples)
    samples[0].video_end = torch.tensor([2.])
    with pytest.raises(ValueError, match='video_end has 1 entries for 2 rows'):
        model.loss(_rows(2), samples)


def test_rows_must_add_up():
    model = build()
    samples = [BaseDataElement(num_video_rows=2, num_text_rows=1)]
    with pytest.raises(
            ValueError,
            match=r'claim \[2\] num_video_rows but '
            'the batch holds 3'):
        model.predict(_rows(3), samples)


def _window_batch(**changes):
    rows = _rows(2)
    rows['vmasks'][1, 4:] = False
    sample = dict(
        num_video_rows=2,
        num_text_rows=2,
        window_starts=torch.tensor([0, 4]),
        window_lengths=torch.tensor([6, 4]),
        video_len=8,
        targets=torch.zeros(8, 2),
        step_sequence=torch.tensor([0]))
    sample.update(changes)
    return rows, [BaseDataElement(**sample)]


@pytest.mark.parametrize('changes, message', [
    (dict(window_lengths=torch.tensor([6, 6])),
     r'window_lengths \[6, 6\] differ from the valid frames'),
    (dict(video_len=7), r'leave \[0, 7\)'),
    (dict(targets=torch.zeros(8, 3)), r'targets has shape \[8, 3\]'),
    (dict(window_starts=torch.tensor([0])), '1 window_starts'),
])
def test_bad_windows(changes, message):
    model = build('TempCLRStepLocalizer')
    with pytest.raises(ValueError, match=message):
        model.loss(*_window_batch(**changes))


def test_uncovered_frames_are_refused():
    model = build('TempCLRStepLocalizer').eval()
    rows, samples = _window_batch(video_len=12, targets=torch.zeros(12, 2))
    with pytest.raises(
            ValueError,
            match=r'sample 0: frames \[8, 9, 10, 11\] are in no '
            'window'):
        model.predict(rows, samples)
