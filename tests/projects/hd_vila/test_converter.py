"""Official HD-VILA weights -> our models.

Official-layout checkpoints are made from our tiny models through the key
lists of ``official_checkpoints.py`` (written from the official source, not
from the converter); each converts to its targets, loads strictly and gives
the same outputs. Also: the official starts of stage 1 (CNN + BERT files),
stage 2 (+ a stage-1 checkpoint, which holds half the layers) and QA (a
stage-2 checkpoint), fp16 and ``module.`` files, every dropped key
accounted for, and the command line (``tools/check_parity.py``:
``test_check_parity.py``).
"""
import copy

import pytest
import torch
from torchvision.models import resnet18, resnet50
from transformers import BertConfig, BertForPreTraining

from vtg_hd_vila.converters import (convert_checkpoint, convert_state_dicts,
                                    load_converted_checkpoint, load_state,
                                    read_official_weights)
from vtg_plugins.testing.refs import ref_path

from ._tools import load_helper, load_tool

oc = load_helper('official_checkpoints')
convert_official = load_tool('convert_official')

CASES = [(f, t) for f, targets in oc.FLAVOUR_TARGETS.items() for t in targets]


def _save(tmp_path, obj, name):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def _assert_same_state(model, reference):
    """Every tensor ``model`` shares with ``reference`` is equal."""
    ours, ref = model.state_dict(), reference.state_dict()
    for key, value in ref.items():
        if key in ours:
            assert torch.equal(ours[key], value), key


def test_official_timesformer_names_match_the_official_fixture():
    ref = torch.load(
        ref_path('hd_vila', 'timesformer_tiny.pt'), weights_only=False)
    assert oc.timesformer_keys(2) == list(ref['state_dict'])


def test_official_resnet_names_are_torchvision_names():
    for depth, net in ((18, resnet18), (50, resnet50)):
        names = [k for k in net().state_dict() if not k.startswith('fc.')]
        assert oc.resnet_keys(depth) == names


@pytest.mark.parametrize('flavour, target', CASES)
def test_official_checkpoint_loads_strictly_with_the_same_outputs(
        tmp_path, tiny_bert_config, flavour, target):
    model = oc.build(target, tiny_bert_config)
    official = oc.official_state_dict(model, flavour, tiny_bert_config)
    src = _save(tmp_path, official, f'hdvila_{flavour}.pt')
    dst = tmp_path / 'converted.pth'
    conversion = convert_checkpoint([src], str(dst), target)

    loaded = oc.build(target, tiny_bert_config, seed=7)
    load_converted_checkpoint(loaded, str(dst))
    _assert_same_state(loaded, model)
    data = oc.batch(target)
    ours, ref = oc.tensor_outputs(loaded, data), oc.tensor_outputs(model, data)
    assert ours.keys() == ref.keys()
    for name in ref:
        assert torch.equal(ours[name], ref[name]), name

    # every official key is used or dropped with its reason
    (info, ) = conversion.sources
    assert (info['kind'], info['flavour']) == ('e2e', flavour)
    own = model.state_dict()
    assert set(
        info['dropped']) == {k
                             for k in official if oc.our_name(k) not in own}
    assert 'never run' in info['dropped']['cnn_low.layer4.1.bn2.weight']
    assert 'never run' in info['dropped']['timesformer.norm.bias']
    if flavour != 'stage1':
        key = 'transformer.bert.visual_embeddings.position_embeddings.weight'
        assert 'never read' in info['dropped'][key]
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['init_groups'] == [] and meta['model'] == target
    assert meta['config']['bert_config']['num_hidden_layers'] == 4
    assert meta['config']['video_encoder']['resnet_depth'] == 18


def test_fp16_wrapped_module_prefixed_checkpoint(tmp_path, tiny_bert_config):
    model = oc.build('qa', tiny_bert_config)
    official = oc.official_state_dict(
        model, 'qa', tiny_bert_config, dtype=torch.float16)
    src = _save(
        tmp_path, {
            'global_step': 3,
            'model_state_dict': {
                f'module.{k}': v
                for k, v in official.items()
            }
        }, 'restore.pt')
    dst = tmp_path / 'qa.pth'
    conversion = convert_checkpoint([src], str(dst), 'qa')
    state = conversion.state_dict
    key = 'transformer.bert.encoder.layer.2.output.dense.weight'
    assert state[key].dtype == torch.float32
    assert torch.equal(state[key], official[key].float())
    assert state['video_encoder.cnn.bn1.num_batches_tracked'].dtype == \
        torch.int64
    meta = torch.load(dst, weights_only=True)['meta']
    assert 'torch.float16' in meta['source_dtypes']
    loaded = oc.build('qa', tiny_bert_config, seed=2)
    load_converted_checkpoint(loaded, str(dst))
    assert torch.equal(loaded.state_dict()[key], official[key].float())


def test_stage2_checkpoint_is_the_qa_start(tiny_bert_config):
    stage2 = oc.build('stage2', tiny_bert_config)
    official = oc.official_state_dict(stage2, 'stage2', tiny_bert_config)
    conversion = convert_state_dicts([('hdvila_stage2.pt', official)], 'qa')
    assert conversion.init_groups == ['transformer.classifier']
    assert 'num_labels' not in conversion.config
    (info, ) = conversion.sources
    for key in ('transformer.bert.pooler1.dense.weight',
                'transformer.t_proj.bias', 'transformer.cls.predictions.bias'):
        assert 'do not build it' in info['dropped'][key]

    qa = oc.build('qa', tiny_bert_config, seed=4)
    head = copy.deepcopy(qa.transformer.classifier.state_dict())
    load_state(qa, conversion.state_dict, conversion.init_groups, 'x')
    _assert_same_state(qa, stage2)
    for key, value in qa.transformer.classifier.state_dict().items():
        assert torch.equal(value, head[key]), key  # kept its init


def test_stage2_checkpoint_to_the_dual_encoder(tiny_bert_config):
    stage2 = oc.build('stage2', tiny_bert_config)
    official = oc.official_state_dict(stage2, 'stage2', tiny_bert_config)
    conversion = convert_state_dicts([('s2.pt', official)], 'retrieval')
    assert conversion.init_groups == []
    dropped = conversion.sources[0]['dropped']
    for key in ('transformer.bert.encoder.layer.2.output.dense.bias',
                'transformer.bert.pooler2.dense.weight',
                'transformer.cls.seq_relationship.bias'):
        assert 'text half only' in dropped[key]
    assert not any('layer.1.' in k for k in dropped)
    assert all(
        torch.equal(v,
                    stage2.state_dict()[k])
        for k, v in conversion.state_dict.items())


def _cnn_file(layout):
    """An mmdetection ResNet-18: bare (+ an ImageNet fc, as torchvision
    saves it) or a detector's ``backbone.*`` with other parts."""
    torch.manual_seed(11)
    state = {
        k: torch.randn(v.shape) if v.is_floating_point() else v + 5
        for k, v in resnet18().state_dict().items()
    }
    if layout == 'bare':
        return state, state
    ckpt = {f'backbone.{k}': v for k, v in state.items() if 'fc.' not in k}
    ckpt['neck.lateral_convs.0.conv.weight'] = torch.zeros(4, 512, 1, 1)
    return {'meta': {'epoch': 12}, 'state_dict': ckpt}, state


def _bert_file(bert, legacy=True):
    """HF ``BertForPreTraining`` weights as the official BERT file; legacy:
    ``LayerNorm.gamma`` / ``beta`` and no ``decoder.bias`` (2019 files)."""
    torch.manual_seed(12)
    hf = BertForPreTraining(BertConfig(**bert))
    state = {k: torch.randn(v.shape) for k, v in hf.state_dict().items()}
    state['cls.predictions.decoder.bias'] = state['cls.predictions.bias']
    if not legacy:
        return state, state
    old = {}
    for k, v in state.items():
        if k == 'cls.predictions.decoder.bias':
            continue
        if 'LayerNorm.' in k:
            k = k.replace('.weight', '.gamma').replace('.bias', '.beta')
        old[k] = v
    return old, state


@pytest.mark.parametrize('layout', ['bare', 'detector'])
def test_cnn_and_bert_files_are_the_stage1_start(tmp_path, tiny_bert_config,
                                                 layout):
    cnn, cnn_state = _cnn_file(layout)
    bert, bert_state = _bert_file(tiny_bert_config)
    sources = [
        _save(tmp_path, cnn, 'res18_mmdetection.pth'),
        _save(tmp_path, bert, 'pytorch_model.bin')
    ]
    conversion = convert_checkpoint(sources, str(tmp_path / 'start.pth'),
                                    'stage1')
    assert conversion.init_groups == [
        'video_encoder.grid_encoder', 'video_encoder.grid_encoder_low',
        'video_encoder.timesformer', 'video_encoder.grid_encoder_combine',
        'transformer.bert.pooler1', 'transformer.t_proj', 'transformer.v_proj'
    ]
    state = conversion.state_dict
    for key, value in cnn_state.items():
        if not key.startswith('fc.'):
            assert torch.equal(state[f'video_encoder.cnn.{key}'], value), key
        if not key.startswith(('fc.', 'layer4.')):
            assert torch.equal(state[f'video_encoder.cnn_low.{key}'], value)
    assert torch.equal(state['transformer.bert.embeddings.LayerNorm.weight'],
                       bert_state['bert.embeddings.LayerNorm.weight'])
    assert torch.equal(
        state['transformer.bert.encoder.layer.1.output.LayerNorm.bias'],
        bert_state['bert.encoder.layer.1.output.LayerNorm.bias'])
    cnn_info, bert_info = conversion.sources
    assert set(
        cnn_info['dropped']) == ({'fc.weight', 'fc.bias'} if layout == 'bare'
                                 else {'neck.lateral_convs.0.conv.weight'})
    assert 'pooler1 / pooler2' in bert_info['dropped'][
        'bert.pooler.dense.bias']
    assert 'text half' in bert_info['dropped']['cls.predictions.bias']
    assert 'text half' in bert_info['dropped'][
        'bert.encoder.layer.3.output.dense.weight']

    model = oc.build('stage1', tiny_bert_config, seed=9)
    fresh = copy.deepcopy(model.state_dict())
    load_converted_checkpoint(model, str(tmp_path / 'start.pth'))
    for key, value in model.state_dict().items():
        kept_init = key.startswith(
            tuple(g + '.' for g in conversion.init_groups))
        assert torch.equal(value, fresh[key]) == kept_init, key


def test_a_resnet50_file_sets_the_depth(tiny_bert_config):
    torch.manual_seed(13)
    cnn = {f'backbone.{k}': v for k, v in resnet50().state_dict().items()}
    bert, _ = _bert_file(tiny_bert_config)
    conversion = convert_state_dicts([('res50_mmdetection.pth', cnn),
                                      ('bert.bin', bert)], 'qa')
    assert conversion.config['video_encoder'] == dict(
        type='HDVILAVideoEncoder', hidden_size=16, resnet_depth=50)
    key = 'video_encoder.cnn_low.layer3.5.conv3.weight'
    assert torch.equal(conversion.state_dict[key],
                       cnn['backbone.layer3.5.conv3.weight'])


@pytest.mark.parametrize('target, heads', [
    ('stage2', []),
    ('qa', ['transformer.classifier']),
])
def test_cnn_bert_and_stage1_files_are_the_stage2_start(
        tmp_path, tiny_bert_config, capsys, target, heads):
    """``res50 bert-large hdvila_stage1.pt OUT --model stage2``: the
    stage-1 file (layers 0-1 of the 4-layer BERT, as the official stage-1
    model builds) over the CNN and BERT files; layers 2-3 and ``cls`` stay
    the BERT file's."""
    stage1 = oc.build('stage1', tiny_bert_config)
    official = oc.official_state_dict(stage1, 'stage1', tiny_bert_config)
    assert not any('.encoder.layer.2.' in k for k in official)
    cnn, _ = _cnn_file('detector')
    bert, bert_state = _bert_file(tiny_bert_config)
    sources = [
        _save(tmp_path, cnn, 'res18_mmdetection.pth'),
        _save(tmp_path, bert, 'pytorch_model.bin'),
        _save(tmp_path, official, 'hdvila_stage1.pt')
    ]
    dst = tmp_path / 'stage2_start.pth'
    assert convert_official.main([*sources, str(dst), '--model', target]) == 0
    assert 'left at the model\'s init: transformer.bert.visual_embeddings' \
        in capsys.readouterr().out
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['init_groups'] == [
        'transformer.bert.visual_embeddings', 'transformer.bert.pooler2'
    ] + heads
    assert meta['config']['bert_config']['num_hidden_layers'] == 4
    assert [s['kind'] for s in meta['sources']] == ['cnn', 'bert', 'e2e']

    model = oc.build(target, tiny_bert_config, seed=8)
    fresh = copy.deepcopy(model.state_dict())
    load_converted_checkpoint(model, str(dst))
    ran = stage1.state_dict()
    upper = 0
    for key, value in model.state_dict().items():
        if key.startswith(tuple(g + '.' for g in meta['init_groups'])):
            want = fresh[key]
        elif key in ran:  # video encoder, embeddings, layers 0-1, pooler1
            want = ran[key]
        else:  # layers 2-3, cls
            want = bert_state[key[len('transformer.'):]]
            upper += '.encoder.layer.' in key
        assert torch.equal(value, want), key
    assert upper == 2 * 16  # every tensor of layers 2 and 3

    # the e2e file given first: still applied last (official order)
    reordered = convert_state_dicts([(p, read_official_weights(p))
                                     for p in sources[::-1]], target)
    state = torch.load(dst, weights_only=True)['state_dict']
    assert reordered.state_dict.keys() == state.keys()
    assert all(
        torch.equal(v, state[k]) for k, v in reordered.state_dict.items())


def test_a_bert_file_without_the_decoder_weight_ties_it(tiny_bert_config):
    bert, state = _bert_file(tiny_bert_config)
    del bert['cls.predictions.decoder.weight']
    conversion = convert_state_dicts([('bert.bin', bert)], 'stage2')
    assert torch.equal(
        conversion.state_dict['transformer.cls.predictions.decoder.weight'],
        state['bert.embeddings.word_embeddings.weight'])
    assert conversion.sources[0]['tied'] == [
        'transformer.cls.predictions.decoder.bias',
        'transformer.cls.predictions.decoder.weight'
    ]


def test_a_saved_hf_bert_folder(tmp_path, tiny_bert_config):
    torch.manual_seed(14)
    hf = BertForPreTraining(BertConfig(**tiny_bert_config))
    hf.save_pretrained(tmp_path / 'bert-large-uncased')  # model.safetensors
    conversion = convert_checkpoint([str(tmp_path / 'bert-large-uncased')],
                                    str(tmp_path / 'out.pth'), 'stage2')
    state, ref = conversion.state_dict, hf.state_dict()
    for key in ('cls.predictions.decoder.weight',
                'cls.predictions.decoder.bias', 'cls.predictions.bias',
                'bert.encoder.layer.3.output.dense.weight'):
        assert torch.equal(state[f'transformer.{key}'], ref[key]), key
    saved = {p.name for p in (tmp_path / 'bert-large-uncased').iterdir()}
    assert 'model.safetensors' in saved and 'pytorch_model.bin' not in saved


def test_cli_converts_and_reports(tmp_path, tiny_bert_config, capsys):
    stage2 = oc.build('stage2', tiny_bert_config)
    src = _save(tmp_path,
                oc.official_state_dict(stage2, 'stage2', tiny_bert_config),
                'hdvila_stage2.pt')
    dst = tmp_path / 'out' / 'mc_start.pth'
    assert convert_official.main([src, str(dst), '--model', 'mc']) == 0
    out = capsys.readouterr().out
    assert f'wrote {dst}' in out and 'HDVILAMultipleChoice' in out
    assert "left at the model's init: transformer.classifier" in out
    mc = oc.build('mc', tiny_bert_config, seed=3)
    load_converted_checkpoint(mc, str(dst))
    _assert_same_state(mc, stage2)
