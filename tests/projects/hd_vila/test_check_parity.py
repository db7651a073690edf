"""The plumbing of ``projects/hd_vila/tools/check_parity.py``: fixtures
written from our own tiny models in the official layout (through
``official_checkpoints.py``) pass with zero differences, and each kind of
broken fixture (other outputs, weights, missing fields, unknown config,
wrong input rows) fails naming the field. Not parity evidence: the
fixtures come from our own model."""
import json

import pytest
import torch

from ._tools import load_helper, load_tool

oc = load_helper('official_checkpoints')
check_parity = load_tool('check_parity')


def _save(tmp_path, obj, name):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def _fixture(target, bert):
    model = oc.build(target, bert)
    flavour = next(f for f, t in oc.FLAVOUR_TARGETS.items() if target in t)
    data = oc.batch(target)
    samples = data['data_samples']
    key = 'option' if target in check_parity.OPTION_ROWS else 'text'
    rows = [torch.atleast_2d(getattr(s, f'{key}_ids')) for s in samples]
    masks = [torch.atleast_2d(getattr(s, f'{key}_mask')) for s in samples]
    return dict(
        model=target,
        state_dict=oc.official_state_dict(model, flavour, bert),
        config=dict(
            num_attention_heads=bert['num_attention_heads'],
            timesformer_heads=oc.ENCODER['timesformer_heads'],
            grid_size=list(oc.ENCODER['grid_size'])),
        inputs=dict(
            img_middle=data['inputs']['keyframes'],
            img_other=data['inputs']['frames'],
            text_input_ids=torch.cat(rows),
            text_input_mask=torch.cat(masks)),
        outputs=oc.tensor_outputs(model, data),
        meta='written from our own model: plumbing test, not parity')


@pytest.mark.parametrize('target', ['stage2', 'qa', 'msrvtt_mc'])
def test_check_parity_plumbing(tiny_bert_config, target):
    fixture = _fixture(target, tiny_bert_config)
    report = check_parity.check(fixture)
    assert report.ok, report.problems
    assert set(report.fields) == set(fixture['outputs'])
    assert max(report.fields.values()) == 0.0


def _noisy_output(f):
    name = next(iter(f['outputs']))
    f['outputs'][name] = f['outputs'][name] + 1e-2
    return name


def _noisy_weight(f):
    key = 'transformer.bert.encoder.layer.0.output.dense.weight'
    g = torch.Generator().manual_seed(0)
    f['state_dict'][key] = f['state_dict'][key] + 0.1 * torch.randn(
        f['state_dict'][key].shape, generator=g)
    return 'logits'


def _lost_output(f):
    del f['outputs']['logits']
    return 'outputs.logits'


def _unknown_config(f):
    f['config']['num_heads'] = 2
    return 'config.num_heads'


def _lost_weight(f):
    del f['state_dict']['timesformer.time_embed']
    return 'state_dict'


def _other_grid(f):
    f['config']['grid_size'] = [2, 2]
    return 'state_dict'


def _wrong_rows(f):
    f['inputs']['text_input_ids'] = f['inputs']['text_input_ids'][:1]
    return 'inputs'


@pytest.mark.parametrize('mutate', [
    _noisy_output, _noisy_weight, _lost_output, _unknown_config, _lost_weight,
    _other_grid, _wrong_rows
])
def test_check_parity_fails_broken_fixtures(tiny_bert_config, mutate):
    fixture = _fixture('qa', tiny_bert_config)
    field = mutate(fixture)
    report = check_parity.check(fixture)
    assert not report.ok
    assert field in report.failed


def test_check_parity_cli(tmp_path, tiny_bert_config, capsys):
    fixture = _fixture('mc', tiny_bert_config)
    path = _save(tmp_path, fixture, 'fixture.pt')
    assert check_parity.main([path]) == 0
    assert json.loads(capsys.readouterr().out) == {'logits': 0.0, 'ok': True}
    fixture['outputs']['logits'][0, 0, 0] += 1.0
    torch.save(fixture, path)
    assert check_parity.main([path]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report['ok'] is False and report['logits'] >= 0.99
