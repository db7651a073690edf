"""Bad HD-VILA checkpoints: official files with missing, unknown or
mis-shaped keys, files of the wrong kind, unconverted files given to the
loader, converted files of other sizes; each error names the file and the
keys."""
import importlib.util
from pathlib import Path

import pytest
import torch

from vtg_hd_vila.converters import (convert_checkpoint, convert_state_dicts,
                                    load_converted_checkpoint,
                                    read_official_weights)

TESTS = Path(__file__).resolve().parents[1]
HD_VILA = TESTS / 'projects' / 'hd_vila'


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oc = _load('_hd_vila_official_checkpoints',
           HD_VILA / 'official_checkpoints.py')
convert_official = _load(
    '_hd_vila_convert_official',
    TESTS.parent / 'projects' / 'hd_vila' / 'tools' / 'convert_official.py')

BERT = dict(
    vocab_size=64,
    hidden_size=16,
    num_hidden_layers=4,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    type_vocab_size=2,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0)
_CACHE = {}


def _official(flavour):
    """A fresh copy of an official-layout checkpoint of ``flavour``."""
    if flavour not in _CACHE:
        target = oc.FLAVOUR_TARGETS[flavour][0]
        _CACHE[flavour] = oc.official_state_dict(
            oc.build(target, BERT), flavour, BERT)
    return dict(_CACHE[flavour])


def _save(tmp_path, state, name='hdvila_stage2.pt'):
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def _convert(tmp_path, state, target='stage2', name='hdvila_stage2.pt'):
    return convert_checkpoint([_save(tmp_path, state, name)],
                              str(tmp_path / 'out.pth'), target)


# --- official e2e checkpoints
def test_missing_key_is_named_and_nothing_is_written(tmp_path):
    state = _official('stage2')
    del state['transformer.bert.encoder.layer.1.output.dense.bias']
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage2\.pt: 1 keys missing.*'
            r'transformer\.bert\.encoder\.layer\.1\.output\.dense\.bias'):
        _convert(tmp_path, state)
    assert not (tmp_path / 'out.pth').exists()


def test_missing_video_key_is_named(tmp_path):
    state = _official('qa')
    del state['cnn.layer2.0.downsample.1.running_var']
    with pytest.raises(
            ValueError,
            match=r'qa\.pt: 1 keys missing.*'
            r'video_encoder\.cnn\.layer2\.0\.downsample\.1\.running_var'):
        _convert(tmp_path, state, 'qa', 'qa.pt')


def test_unknown_keys_are_named(tmp_path):
    state = _official('stage2')
    key = 'transformer.bert.encoder.layer.0.attention.self.gate.weight'
    state[key] = torch.zeros(16, 16)
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage2\.pt: 1 keys HDVILAPretrainStage2 has no '
            r'place for: .*self\.gate\.weight'):
        _convert(tmp_path, state)
    state = _official('stage2')
    state['optimizer.step'] = torch.zeros(1)
    with pytest.raises(
            ValueError,
            match=r"keys of no HD-VILA module: \['optimizer\.step'\]"):
        _convert(tmp_path, state)


def test_shape_mismatch_is_named(tmp_path):
    state = _official('stage2')
    state['transformer.bert.encoder.layer.0.attention.self.key.bias'] = \
        torch.zeros(15)
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage2\.pt: 1 tensors do not fit: .*'
            r'self\.key\.bias has shape \[15\], .* needs \[16\]'):
        _convert(tmp_path, state)


def test_a_checkpoint_without_a_part_of_its_model(tmp_path):
    state = {
        k: v
        for k, v in _official('stage2').items() if '.pooler2.' not in k
    }
    with pytest.raises(
            ValueError,
            match=r'an official stage2 checkpoint without any '
            r"\['transformer\.bert\.pooler2'\]"):
        _convert(tmp_path, state)


def test_a_qa_checkpoint_has_no_dual_encoder(tmp_path):
    with pytest.raises(
            ValueError,
            match=r"HDVILARetrieval: no source fills \['transformer\.t_proj',"
            r" 'transformer\.v_proj'\] \(an official qa checkpoint"):
        _convert(tmp_path, _official('qa'), 'retrieval', 'qa.pt')


def test_a_qa_checkpoint_is_no_mc_checkpoint(tmp_path):
    with pytest.raises(
            ValueError,
            match=r'transformer\.classifier\.2\.weight has shape \[5, 32\], '
            r'.* needs \[1, 32\]'):
        _convert(tmp_path, _official('qa'), 'mc', 'qa.pt')


def test_mixed_module_prefixes(tmp_path):
    state = _official('mc')
    state['module.timesformer.pos_embed'] = state.pop('timesformer.pos_embed')
    with pytest.raises(
            ValueError,
            match=r"mc\.pt: \S+ lacks the 'module\.' prefix the other"):
        read_official_weights(_save(tmp_path, state, 'mc.pt'))


def test_files_of_the_wrong_kind(tmp_path):
    with pytest.raises(ValueError, match=r'x\.pt: neither an HD-VILA'):
        convert_state_dicts([('x.pt', {
            'head.fc.weight': torch.zeros(2)
        })], 'qa')
    ours = oc.build('qa', BERT).state_dict()
    with pytest.raises(ValueError, match=r'ours\.pth: already in our names'):
        convert_state_dicts([('ours.pth', ours)], 'qa')
    two = [('a.pt', _official('qa')), ('b.pt', _official('qa'))]
    with pytest.raises(ValueError, match=r'b\.pt: a second e2e source'):
        convert_state_dicts(two, 'qa')
    with pytest.raises(ValueError, match=r"unknown target 'vqa'"):
        convert_state_dicts(two[:1], 'vqa')
    with pytest.raises(ValueError, match='no official weights'):
        convert_state_dicts([], 'qa')


def test_missing_file_and_file_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pt does not exist'):
        read_official_weights(str(tmp_path / 'nope.pt'))
    torch.save(dict(global_step=3, lr=[0.1]), tmp_path / 'x.pt')
    with pytest.raises(ValueError, match=r'x\.pt: no state dict'):
        read_official_weights(str(tmp_path / 'x.pt'))


def test_output_may_not_overwrite_a_source(tmp_path):
    src = _save(tmp_path, _official('qa'), 'qa.pt')
    with pytest.raises(ValueError, match='would overwrite a source'):
        convert_checkpoint([src], src, 'qa')


# --- BERT files
def _bert_file(**sizes):
    from transformers import BertConfig, BertForPreTraining
    torch.manual_seed(0)
    return dict(
        BertForPreTraining(BertConfig(**dict(BERT, **sizes))).state_dict())


def test_bert_buffer_and_tied_bias_are_checked():
    state = _bert_file()
    state['bert.embeddings.position_ids'] = torch.zeros(1, 64).long()
    with pytest.raises(
            ValueError,
            match=r'bert\.bin: bert\.embeddings\.position_ids is not the '
            'constant buffer arange'):
        convert_state_dicts([('bert.bin', state)], 'stage2')
    state = _bert_file()
    state['cls.predictions.decoder.bias'] = torch.ones(64)
    with pytest.raises(
            ValueError,
            match=r'bert\.bin: cls\.predictions\.bias and cls\.predictions\.'
            r'decoder\.bias differ'):
        convert_state_dicts([('bert.bin', state)], 'stage2')


def test_cli_reports_the_error(tmp_path, capsys):
    state = _official('stage1')
    del state['transformer.t_proj.bias']
    src = _save(tmp_path, state, 'msrvtt_retrieval.pt')
    out = tmp_path / 'o.pth'
    assert convert_official.main([src, str(out), '--model', 'msrvtt_mc']) == 1
    err = capsys.readouterr().err
    assert 'msrvtt_retrieval.pt' in err and 'transformer.t_proj.bias' in err
    assert not out.exists()
    with pytest.raises(SystemExit):
        convert_official.main([src, '--model', 'qa'])


# --- stage-1 files: layers 0 .. n/2-1 only (the official stage-1 model)
@pytest.mark.parametrize('target', ['stage2', 'qa', 'mc'])
def test_a_stage1_file_alone_lacks_the_cross_modal_layers(tmp_path, target):
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage1\.pt: an official stage-1 checkpoint holds '
            r'encoder layers 0 \.\. 1 only; \w+ also needs layers 2 \.\. 3 '
            r'\(transformer\.bert\.encoder\.layer\.2\.\* \.\.\): give the '
            'BERT file too'):
        _convert(tmp_path, _official('stage1'), target, 'hdvila_stage1.pt')
    assert not (tmp_path / 'out.pth').exists()


def test_a_stage1_file_over_the_bert_file_holds_all_its_layers():
    state = _official('stage1')
    del state['transformer.bert.encoder.layer.1.output.dense.bias']
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage1\.pt: 1 keys missing .*'
            r'transformer\.bert\.encoder\.layer\.1\.output\.dense\.bias'):
        convert_state_dicts([('bert.bin', _bert_file()),
                             ('hdvila_stage1.pt', state)], 'stage2')


def test_layer_counts_that_do_not_go_with_the_bert_file():
    state = _official('stage1')  # + layers 2-3: not the official layout
    for key in [k for k in state if '.encoder.layer.' in k]:
        i = int(key.split('.')[4])
        state[key.replace(f'.layer.{i}.', f'.layer.{i + 2}.')] = state[key]
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage1\.pt: 4 encoder layers do not go with the '
            r'4-layer BERT file bert\.bin \(an official stage1 model of it '
            r'builds layers 0 \.\. 1 only\)'):
        convert_state_dicts([('bert.bin', _bert_file()),
                             ('hdvila_stage1.pt', state)], 'stage1')
    with pytest.raises(
            ValueError,
            match=r'hdvila_stage2\.pt: 4 encoder layers do not go with the '
            r'6-layer BERT file bert6\.bin \(an official stage2 model of it '
            r'builds all 6\)'):
        convert_state_dicts([('bert6.bin', _bert_file(num_hidden_layers=6)),
                             ('hdvila_stage2.pt', _official('stage2'))],
                            'stage2')


# --- converted checkpoints into a model
def test_loader_refuses_unconverted_files(tmp_path):
    model = oc.build('qa', BERT)
    src = _save(tmp_path, _official('qa'), 'msrvtt_qa.pt')
    with pytest.raises(
            ValueError,
            match=r'msrvtt_qa\.pt: an official HD-VILA / BERT / ResNet file.*'
            'convert it first with projects/hd_vila/tools/'
            r'convert_official\.py'):
        load_converted_checkpoint(model, src)
    cnn = _save(tmp_path, {'state_dict': {
        'conv1.weight': torch.zeros(1)
    }}, 'res50_mmdetection.pth')
    with pytest.raises(ValueError, match=r'res50_mmdetection\.pth: an offic'):
        load_converted_checkpoint(model, cnn)


def test_loader_names_keys_of_another_size(tmp_path):
    dst = tmp_path / 'qa.pth'
    convert_checkpoint([_save(tmp_path, _official('qa'), 'qa.pt')], str(dst),
                       'qa')
    deeper = oc.build('qa', dict(BERT, num_hidden_layers=6))
    with pytest.raises(
            ValueError,
            match=r"qa\.pth: does not fit HDVILAVideoQA: 32 missing keys "
            r"\['transformer\.bert\.encoder\.layer\.4\."):
        load_converted_checkpoint(deeper, str(dst))
    other = oc.build('qa', BERT, num_labels=7)
    with pytest.raises(
            ValueError,
            match=r'qa\.pth: .*shape mismatches: .*classifier\.2\.weight: '
            r'\[5, 32\] in the file, \[7, 32\] in the model'):
        load_converted_checkpoint(other, str(dst))


def test_loader_keeps_only_the_declared_parts_at_init(tmp_path):
    dst = tmp_path / 'qa_start.pth'
    convert_checkpoint([_save(tmp_path, _official('stage2'))], str(dst), 'qa')
    ckpt = torch.load(dst, weights_only=True)
    del ckpt['state_dict']['transformer.bert.pooler2.dense.bias']
    torch.save(ckpt, dst)
    with pytest.raises(
            ValueError,
            match=r"qa_start\.pth: .*1 missing keys "
            r"\['transformer\.bert\.pooler2\.dense\.bias'\]"):
        load_converted_checkpoint(oc.build('qa', BERT), str(dst))


def test_loader_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='gone.pth does not exist'):
        load_converted_checkpoint(
            oc.build('mc', BERT), str(tmp_path / 'gone.pth'))


def test_init_cfg_refuses_an_unconverted_file(tmp_path):
    src = _save(tmp_path, _official('qa'), 'msrvtt_qa.pt')
    model = oc.build(
        'qa', BERT, init_cfg=dict(type='Pretrained', checkpoint=src))
    with pytest.raises(
            ValueError,
            match=r'msrvtt_qa\.pt: an official .*convert it first'):
        model.init_weights()


def test_init_cfg_loads_a_converted_start_keeping_the_new_head(tmp_path):
    dst = tmp_path / 'qa_start.pth'
    convert_checkpoint([_save(tmp_path, _official('stage2'))], str(dst), 'qa')
    fresh = oc.build('qa', BERT, seed=3)
    model = oc.build(
        'qa',
        BERT,
        seed=3,
        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    converted = torch.load(dst, weights_only=True)['state_dict']
    state = model.state_dict()
    for key, value in converted.items():
        assert torch.equal(state[key], value), key
    for key, value in fresh.state_dict().items():
        if key.startswith('transformer.classifier.'):
            assert key not in converted
            assert torch.equal(state[key], value), key


def test_init_cfg_of_another_kind_is_refused():
    with pytest.raises(ValueError, match='init_cfg must be None, dict'):
        oc.build('qa', BERT, init_cfg=dict(type='Normal', std=0.1))


def test_init_cfg_list_loads_a_run_over_the_converted_start(tmp_path):
    start = tmp_path / 'stage2_start.pth'
    convert_checkpoint([_save(tmp_path, _official('stage2'))], str(start),
                       'stage2')
    stage1 = oc.build('stage1', BERT, seed=5)
    run = tmp_path / 'epoch_10.pth'
    torch.save(dict(state_dict=stage1.state_dict()), run)
    model = oc.build(
        'stage2',
        BERT,
        seed=6,
        init_cfg=[
            dict(type='Pretrained', checkpoint=str(start)),
            dict(type='Pretrained', checkpoint=str(run))
        ])
    model.init_weights()
    state = model.state_dict()
    converted = torch.load(start, weights_only=True)['state_dict']
    ran = stage1.state_dict()
    for key, value in state.items():
        want = ran[key] if key in ran else converted[key]
        assert torch.equal(value, want), key
    assert any(k not in ran for k in state)  # the start fills the rest
    stray = tmp_path / 'stray.pth'
    torch.save(dict(state_dict={'head.weight': torch.zeros(1)}), stray)
    model = oc.build(
        'stage2',
        BERT,
        init_cfg=[
            dict(type='Pretrained', checkpoint=str(start)),
            dict(type='Pretrained', checkpoint=str(stray))
        ])
    with pytest.raises(ValueError, match=r"stray\.pth: .*unexpected keys"):
        model.init_weights()
