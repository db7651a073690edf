"""tools/analysis/training_memory.py and its logic
(``vtg_plugins.utils.training_memory``): parameter counts equal those of the
model built normally, every engine's bytes follow ZeRO's arithmetic, and
bad inputs are refused naming the file."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

from vtg_plugins.testing.configs import write_config
from vtg_plugins.utils.training_memory import (ENGINES, NOT_COUNTED,
                                               ParamCounts, analyze_config,
                                               config_engine, count_parameters,
                                               model_state_bytes,
                                               optimizer_states)

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'training_memory.py'
SMOKE = REPO / 'configs' / 'smoke' / 'smoke_linear_1xb4-4e_synthetic.py'
R2_TINY = (
    REPO / 'configs' / 'r2_tuning' /
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py')
# TimeSformer's drop-path rates need real tensors: built on the CPU
HD_VILA_TINY = (
    REPO / 'configs' / 'hd_vila' /
    'hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('vtg_training_memory', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class KnownSizes(nn.Module):
    """1000 trainable and 500 frozen parameter elements, no buffers."""

    def __init__(self):
        super().__init__()
        self.trained = nn.Parameter(torch.zeros(40, 25))
        self.frozen = nn.Parameter(torch.zeros(500), requires_grad=False)


def _normal_build(path: Path) -> nn.Module:
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model).train()


@pytest.mark.parametrize('path, built_on',
                         [(SMOKE, 'meta'), (R2_TINY, 'meta'),
                          (HD_VILA_TINY, 'cpu (meta failed: ')])
def test_counts_equal_the_normally_built_model(path, built_on):
    report = analyze_config(str(path))
    assert report.built_on.startswith(built_on), report.built_on
    model = _normal_build(path)
    params = list(model.parameters())
    assert report.counts.total == sum(p.numel() for p in params)
    assert report.counts.trainable == sum(p.numel() for p in params
                                          if p.requires_grad)
    assert report.counts.buffers == sum(b.numel() for b in model.buffers())
    assert report.counts.total > 0


def test_known_module_is_counted():
    counts = count_parameters(KnownSizes())
    assert counts == ParamCounts(trainable=1000, frozen=500, buffers=0)
    assert counts.total == 1500


# bytes per GPU of 1000 trainable + 500 frozen parameters on 4 GPUs:
# trainable weight + grad + (master + 4 * states), frozen weight only
ADAM_ON_4 = {
    'DDP fp32': 1000 * (4 + 4 + 8) + 500 * 4,
    'DDP AMP': 1000 * (4 + 4 + 8) + 500 * 4,
    'ZeRO-1': 1000 * (2 + 2) + 1000 * 12 / 4 + 500 * 2,
    'ZeRO-2': 1000 * 2 + 1000 * (2 + 12) / 4 + 500 * 2,
    'ZeRO-3': 1000 * 16 / 4 + 500 * 2 / 4,
    'FSDP': 1000 * (4 + 4 + 8) / 4 + 500 * 4 / 4,
}
SGD_MOMENTUM_ON_4 = {
    'DDP fp32': 1000 * (4 + 4 + 4) + 500 * 4,
    'DDP AMP': 1000 * (4 + 4 + 4) + 500 * 4,
    'ZeRO-1': 1000 * (2 + 2) + 1000 * 8 / 4 + 500 * 2,
    'ZeRO-2': 1000 * 2 + 1000 * (2 + 8) / 4 + 500 * 2,
    'ZeRO-3': 1000 * 12 / 4 + 500 * 2 / 4,
    'FSDP': 1000 * (4 + 4 + 4) / 4 + 500 * 4 / 4,
}


@pytest.mark.parametrize('states, expected', [(2, ADAM_ON_4),
                                              (1, SGD_MOMENTUM_ON_4)])
def test_engine_bytes_follow_the_formulas(states, expected):
    counts = count_parameters(KnownSizes())
    engines = model_state_bytes(counts, states=states, gpus=4)
    assert list(engines) == [e.name for e in ENGINES]
    assert {name: b.total for name, b in engines.items()} == expected
    zero2 = engines['ZeRO-2']
    assert (zero2.weights, zero2.grads) == (1500 * 2, 1000 * 2 / 4)
    assert zero2.optimizer == 1000 * (4 + 4 * states) / 4


def test_one_gpu_shards_nothing_and_zero_gpus_is_refused():
    counts = count_parameters(KnownSizes())
    engines = model_state_bytes(counts, states=2, gpus=1)
    assert engines['ZeRO-1'].total == engines['ZeRO-3'].total
    assert engines['FSDP'].total == engines['DDP fp32'].total
    with pytest.raises(ValueError, match='GPUs must be >= 1, got 0'):
        model_state_bytes(counts, states=2, gpus=0)


@pytest.mark.parametrize('optimizer, states', [
    (dict(type='AdamW', lr=1e-3), 2),
    (dict(type='Adam', lr=1e-3), 2),
    (dict(type='Adam', lr=1e-3, amsgrad=True), 3),
    (dict(type='SGD', lr=0.1, momentum=0.9), 1),
    (dict(type='SGD', lr=0.1), 0),
])
def test_optimizer_states_are_counted(optimizer, states):
    assert optimizer_states(optimizer) == states


@pytest.mark.parametrize('extra, engine', [
    (dict(), 'DDP fp32'),
    (dict(optim_wrapper=dict(type='AmpOptimWrapper')), 'DDP AMP'),
    (dict(
        strategy=dict(
            type='DeepSpeedStrategy', zero_optimization=dict(stage=2))),
     'ZeRO-2'),
    (dict(strategy=dict(type='FSDPStrategy')), 'FSDP'),
])
def test_config_engine(extra, engine):
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    cfg.merge_from_dict(extra)
    assert config_engine(cfg) == engine


def test_cli_table_and_json(tool, capsys):
    assert tool.main([str(SMOKE), str(R2_TINY)]) == 0
    out = capsys.readouterr().out
    assert f'GiB per GPU on 8 GPUs: {NOT_COUNTED}.' in out
    rows = [ln for ln in out.splitlines() if ln.startswith('| r2_tuning')]
    assert len(rows) == 1 and 'AdamW (2)' in rows[0], out
    assert rows[0].count('*') == 1  # AmpOptimWrapper: the DDP AMP column

    assert tool.main([str(R2_TINY), '--gpus', '4', '--format', 'json']) == 0
    (report, ) = json.loads(capsys.readouterr().out)
    assert report['gpus'] == 4 and report['optimizer_states'] == 2
    assert report['config_engine'] == 'DDP AMP'
    trainable = report['params']['trainable']
    assert report['engines']['ZeRO-3']['total'] == trainable * 16 / 4
    assert 'activations' in report['not_counted']


def test_missing_config_file_is_named(tool, tmp_path, capsys):
    missing = tmp_path / 'missing.py'
    with pytest.raises(FileNotFoundError, match=f'{missing}: config file '):
        analyze_config(str(missing))
    assert tool.main([str(missing), str(SMOKE)]) == 1
    captured = capsys.readouterr()
    assert f'error: {missing}: config file does not exist' in captured.err
    assert '| smoke_linear' in captured.out  # the others still printed


def test_config_without_model_is_named(tmp_path):
    config = tmp_path / 'no_model.py'
    config.write_text("optim_wrapper = dict(optimizer=dict(type='SGD'))\n")
    with pytest.raises(ValueError) as err:
        analyze_config(str(config))
    assert str(err.value) == f'{config}: the config has no `model` dict to ' \
        'build'


def test_config_without_optimizer_is_named(tmp_path):
    config = write_config(tmp_path / 'no_optim.py', SMOKE,
                          'optim_wrapper = None')
    with pytest.raises(ValueError, match='no optim_wrapper.optimizer') as err:
        analyze_config(str(config))
    assert str(config) in str(err.value)


def test_model_that_cannot_be_built_is_named(tmp_path):
    config = write_config(tmp_path / 'bad_type.py', SMOKE,
                          "model = dict(type='NoSuchModel')")
    with pytest.raises(RuntimeError) as err:
        analyze_config(str(config))
    assert str(err.value).startswith(f'{config}: cannot build the model')
    assert 'NoSuchModel' in str(err.value)
