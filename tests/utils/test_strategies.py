"""vtg_plugins.utils.strategies: overlays found and applied, optimizer
wrappers fitted to each engine, what an engine cannot do refused."""
import pytest
import torch
from mmengine.config import Config, ConfigDict

from vtg_plugins.utils import launch, strategies

from ..conftest import REPO, SMOKE_CONFIG

OVERLAYS = REPO / 'configs' / '_base_' / 'strategies'


def _cfg(**optim_wrapper):
    return Config(
        dict(
            train_dataloader=dict(batch_size=6),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-3), **optim_wrapper)))


def _with(cfg, overlay):
    strategies.apply_strategy_overlay(cfg, overlay, str(SMOKE_CONFIG))
    return cfg


@pytest.mark.parametrize('name, stage', [('deepspeed_zero1', 1),
                                         ('deepspeed_zero2', 2),
                                         ('deepspeed_zero3_bf16', 3)])
def test_overlay_found_by_name_from_a_method_config(name, stage):
    config = REPO / 'configs' / 'tstl' / \
        'tstl_tiny_1xb4-6e_synthetic-videos.py'
    path = strategies.strategy_overlay_path(name, str(config))
    assert path == str(OVERLAYS / f'{name}.py')
    strategy = Config.fromfile(path).strategy
    assert strategy.zero_optimization.stage == stage
    assert strategy.inputs_to_half == ['inputs']
    assert strategy.get('bf16', {}).get('enabled', False) == \
        name.endswith('bf16')


def test_unknown_overlay_names_the_known_ones():
    with pytest.raises(
            FileNotFoundError,
            match=r"deepspeed_zero4.*"
            r"known overlays: \[.*'fsdp_bf16'"):
        strategies.strategy_overlay_path('deepspeed_zero4', str(SMOKE_CONFIG))


def test_cfg_options_apply_after_the_overlay():
    cfg = launch.load_config(
        str(SMOKE_CONFIG), {'strategy.zero_optimization.stage': 3},
        strategy='deepspeed_zero1')
    assert cfg.strategy.zero_optimization.stage == 3
    with pytest.raises(KeyError, match='strategy'):
        launch.load_config(str(SMOKE_CONFIG), {'strategy.stage': 3})


def test_deepspeed_takes_clipping_accumulation_and_batch(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = _with(
        _cfg(
            type='AmpOptimWrapper',
            loss_scale='dynamic',
            clip_grad=dict(max_norm=5.0),
            accumulative_counts=4,
            constructor='Mine',
            paramwise_cfg=dict(x=1)), 'deepspeed_zero2')
    strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')
    assert cfg.optim_wrapper == dict(
        type='DeepSpeedOptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-3),
        constructor='Mine',
        paramwise_cfg=dict(x=1))
    assert cfg.strategy.gradient_clipping == 5.0
    assert cfg.strategy.gradient_accumulation_steps == 4
    assert cfg.strategy.train_micro_batch_size_per_gpu == 6
    assert cfg.strategy.fp16.enabled  # CUDA: the overlay's fp16 stays


def test_values_the_strategy_states_win():
    cfg = _with(_cfg(clip_grad=dict(max_norm=5.0)), 'deepspeed_zero2')
    cfg.strategy.gradient_clipping = 1.0
    strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')
    assert cfg.strategy.gradient_clipping == 1.0


def test_deepspeed_fp16_becomes_bf16_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = _with(_cfg(), 'deepspeed_zero1')
    strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')
    assert cfg.strategy.fp16 == dict(enabled=False)
    assert cfg.strategy.bf16 == dict(enabled=True)


@pytest.mark.parametrize(
    'clip',
    [dict(type='value', clip_value=1.0),
     dict(max_norm=1.0, norm_type=1)])
def test_clipping_deepspeed_cannot_do_is_refused(clip):
    cfg = _with(_cfg(clip_grad=clip), 'deepspeed_zero2')
    with pytest.raises(ValueError, match='c.py: DeepSpeed clips by the L2'):
        strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')


def test_a_custom_wrapper_is_not_guessed_for_deepspeed():
    cfg = _with(_cfg(type='MyWrapper'), 'deepspeed_zero2')
    with pytest.raises(ValueError, match="'MyWrapper' cannot be moved"):
        strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')


@pytest.mark.parametrize('wrapper, fitted',
                         [(None, 'FSDPOptimWrapper'),
                          ('OptimWrapper', 'FSDPOptimWrapper'),
                          ('AmpOptimWrapper', 'FSDPAmpOptimWrapper'),
                          ('BF16OptimWrapper', 'FSDPBF16OptimWrapper')])
def test_fsdp_clips_by_the_global_norm_and_sits_on_the_cpu(
        wrapper, fitted, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    options = {} if wrapper is None else dict(type=wrapper)
    cfg = _with(_cfg(**options), 'fsdp')
    strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')
    assert cfg.optim_wrapper.type == fitted
    assert cfg.strategy.model_wrapper.device_id == 'cpu'
    # whole state dicts, not offloaded: on the CPU offloading copies
    # nothing and torch's FSDP then saves every optimizer state of a
    # parameter as the last one gathered (the scale-out tests resume Adam)
    dict_cfg = cfg.strategy.state_dict_cfg
    assert dict_cfg['state_dict_type'] == 'FULL_STATE_DICT'
    assert not dict_cfg['optim_state_dict_config']['offload_to_cpu']


@pytest.mark.parametrize('overlay', ['fsdp', 'deepspeed_zero3'])
def test_ema_of_partitioned_weights_is_refused(overlay):
    cfg = _with(_cfg(), overlay)
    cfg.custom_hooks = [ConfigDict(type='EMAHook')]
    with pytest.raises(ValueError, match='EMAHook cannot average'):
        strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')
    cfg = _with(_cfg(), 'deepspeed_zero2')  # whole weights on every rank
    cfg.custom_hooks = [ConfigDict(type='EMAHook')]
    strategies.fit_optim_wrapper_to_strategy(cfg, 'c.py')


def test_single_process_test_drops_the_engine_and_names_the_converter(
        tmp_path):
    cfg = _with(_cfg(), 'deepspeed_zero2')
    strategies.test_without_engine_when_single(cfg, 'pytorch', None)
    assert 'strategy' in cfg  # distributed tests keep it
    strategies.test_without_engine_when_single(cfg, 'none', None)
    assert 'strategy' not in cfg
    with pytest.raises(ValueError, match='strategy_to_plain.py'):
        strategies.test_without_engine_when_single(cfg, 'none', str(tmp_path))
