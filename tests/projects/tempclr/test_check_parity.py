"""``tools/check_parity.py`` on fixtures built through the HF-BERT oracle
(``hf_oracle.py``, independent of our model), and on broken ones."""
import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve()
TOOLS = HERE.parents[3] / 'projects' / 'tempclr' / 'tools'


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle = load('_tempclr_hf_oracle', HERE.with_name('hf_oracle.py'))
check_parity = load('_tempclr_check_parity', TOOLS / 'check_parity.py')

VIDEO_LAYERS, INPUT_DIM, MAX_VIDEO_LEN, CLS, SEP = 1, 8, 6, 2, 3


@pytest.fixture
def fixture(tiny_bert_config):
    bert = {
        k: tiny_bert_config[k]
        for k in ('hidden_size', 'num_attention_heads', 'intermediate_size',
                  'num_hidden_layers', 'vocab_size', 'max_position_embeddings')
    }
    official = oracle.official_state_dict(
        bert, VIDEO_LAYERS, INPUT_DIM, seed=4)
    inputs = oracle.random_inputs(
        4, MAX_VIDEO_LEN, INPUT_DIM, 10, CLS, SEP, 40, seed=2)
    out = oracle.oracle_forward(
        official,
        dict(bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        VIDEO_LAYERS, MAX_VIDEO_LEN, inputs, torch.float32)
    return dict(
        state_dict=official,
        config=dict(
            bert,
            num_hidden_video_layers=VIDEO_LAYERS,
            max_video_len=MAX_VIDEO_LEN,
            input_dim=INPUT_DIM),
        inputs=inputs,
        outputs=dict(
            pooled_video=out['pooled_video'], pooled_text=out['pooled_text']),
        meta='synthetic, HF-BERT oracle')


def test_cli_passes_an_oracle_fixture(fixture, tmp_path):
    path = tmp_path / 'fixture.pt'
    torch.save(fixture, path)
    proc = subprocess.run([sys.executable, TOOLS / 'check_parity.py', path],
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report.pop('ok') is True
    assert set(report) == {'pooled_video', 'pooled_text'}
    assert max(report.values()) < 1e-5


def _noise(f, key):
    value = f['state_dict'][key]
    f['state_dict'][key] = value + 1e-2 * torch.randn(
        value.shape, generator=torch.Generator().manual_seed(0))


def _perturb_weight(f):
    _noise(f, 'mmmodel.video_encoder.bert.encoder.layer.0.output.dense.weight')


def _perturb_text(f):
    _noise(f, 'mmmodel.text_encoder.encoder.layer.1.attention.self.value.bias')


def _drop_output(f):
    del f['outputs']['pooled_text']


def _drop_weight(f):
    del f['state_dict']['mmmodel.text_encoder.pooler.dense.bias']


def _unknown_config(f):
    f['config']['num_layers'] = 3


def _wrong_layers(f):
    f['config']['num_hidden_layers'] = 3


@pytest.mark.parametrize('mutate, field', [
    (_perturb_weight, 'pooled_video'),
    (_perturb_text, 'pooled_text'),
    (_drop_output, 'outputs.pooled_text'),
    (_drop_weight, 'state_dict'),
    (_unknown_config, 'config.num_layers'),
    (_wrong_layers, 'state_dict'),
])
def test_broken_fixtures_fail(fixture, mutate, field):
    assert check_parity.check(fixture).ok
    broken = copy.deepcopy(fixture)
    mutate(broken)
    report = check_parity.check(broken)
    assert not report.ok
    assert field in report.failed


def test_cli_exits_non_zero_on_failure(fixture, tmp_path, capsys):
    _perturb_weight(fixture)
    path = tmp_path / 'fixture.pt'
    torch.save(fixture, path)
    assert check_parity.main([str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report['ok'] is False
    assert report['pooled_video'] > 1e-5
