"""vtg_plugins.compat.mmengine, each fix exercised on the real mmengine code
path that fails without it."""
import inspect
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import vtg_plugins  # noqa: F401  (installs the fixes)


def test_checkpoints_with_numpy_state_load_under_torch_weights_only(
        tmp_path):
    from mmengine.runner import load_checkpoint, save_checkpoint
    path = tmp_path / 'ckpt.pth'
    model = torch.nn.Linear(2, 2)
    save_checkpoint(
        dict(state_dict=model.state_dict(),
             message_hub=dict(log_scalars=np.array([1.0, 2.0]))), str(path))
    # torch's own default refuses it ...
    with pytest.raises(Exception, match='[Ww]eights only'):
        torch.load(path)
    # ... mmengine's loader (as used by --resume / load_from) accepts it
    other = torch.nn.Linear(2, 2)
    ckpt = load_checkpoint(other, str(path))
    assert torch.equal(other.weight, model.weight)
    assert ckpt['message_hub']['log_scalars'].tolist() == [1.0, 2.0]


def test_bf16_optim_wrapper_runs_autocast_on_cpu():
    from mmengine.registry import OPTIM_WRAPPERS
    model = torch.nn.Linear(4, 1)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='BF16OptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    with wrapper.optim_context(model):
        out = model(torch.ones(2, 4))
    assert out.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        loss = model(torch.ones(2, 4)).float().pow(2).mean()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.weight)


def test_fsdp_resume_passes_arguments_by_name(monkeypatch):
    from mmengine._strategy import fsdp as fsdp_strategy
    real = fsdp_strategy.FSDP.optim_state_dict_to_load
    params = list(inspect.signature(real).parameters)
    assert params[:3] == ['model', 'optim', 'optim_state_dict']
    seen = {}

    def fake(model, optim, optim_state_dict, **kwargs):
        seen.update(model=model, optim=optim, state=optim_state_dict)
        return {'loaded': True}

    monkeypatch.setattr(fsdp_strategy.FSDP, 'optim_state_dict_to_load',
                        staticmethod(fake))
    strategy = object.__new__(fsdp_strategy.FSDPStrategy)
    strategy.model = 'MODEL'
    loaded = {}
    optimizer = SimpleNamespace(state={'w': {'step': torch.tensor(3)}})

    class Wrapper:

        def load_state_dict(self, state):
            loaded.update(state)

    Wrapper.optimizer = optimizer
    strategy.optim_wrapper = Wrapper()
    exp_avg = torch.ones(2)
    strategy.load_optim_state_dict(
        {'state': {'w': {'step': 3, 'exp_avg': exp_avg}}, 'param_groups': []})
    assert seen['model'] == 'MODEL' and seen['optim'] is optimizer
    # an int step reaches torch's resharding as a tensor (it calls .cpu())
    state = seen['state']['state']['w']
    assert torch.is_tensor(state['step']) and int(state['step']) == 3
    assert state['exp_avg'] is exp_avg
    assert loaded == {'loaded': True}
    # ... and goes back to the optimizer as the number it was
    assert optimizer.state['w']['step'] == 3
    assert type(optimizer.state['w']['step']) is int


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'previous complete checkpoint')
    backend = get_file_backend(str(path))

    class Boom(Exception):
        pass

    real_fsync = os.fsync

    def failing_fsync(fd):
        raise Boom('disk full')

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(Boom):
        backend.put(b'half written', str(path))
    monkeypatch.setattr(os, 'fsync', real_fsync)
    assert path.read_bytes() == b'previous complete checkpoint'
    assert [p.name for p in tmp_path.iterdir()] == ['ckpt.pth']
    backend.put(b'new', str(path))
    assert path.read_bytes() == b'new'


def test_deepspeed_inputs_to_half_casts_float_tensors_only():
    from types import SimpleNamespace

    from mmengine._strategy.deepspeed import MMDeepSpeedEngineWrapper
    weight = torch.nn.Parameter(torch.ones(1, dtype=torch.bfloat16))
    engine = SimpleNamespace(parameters=lambda: iter([weight]))
    wrapper = MMDeepSpeedEngineWrapper(model=engine, inputs_to_half=['inputs'])
    data = dict(inputs=dict(frames=torch.ones(2), ids=torch.tensor([300])),
                data_samples=[torch.ones(1)])
    out = wrapper._cast_inputs_half(data)
    assert out['inputs']['frames'].dtype == torch.bfloat16
    assert out['inputs']['ids'].dtype == torch.int64  # 300 survives
    assert out['inputs']['ids'].item() == 300
    assert out['data_samples'][0].dtype == torch.float32  # not named


def test_a_second_deepspeed_strategy_in_one_process_builds():
    from mmengine._strategy import deepspeed as ds
    first = ds.DeepSpeedStrategy(zero_optimization=dict(stage=1))
    # the second one raised "DeepSpeedCPUAdam is already registered"
    second = ds.DeepSpeedStrategy(zero_optimization=dict(stage=2))
    assert (first.config['zero_optimization']['stage'],
            second.config['zero_optimization']['stage']) == (1, 2)
    names = ds.register_deepspeed_optimizers()
    assert 'DeepSpeedCPUAdam' in names
    assert ds.register_deepspeed_optimizers() == names


def test_ema_checkpoint_loaded_before_the_hook_ran_waits_for_it():
    from types import SimpleNamespace

    from mmengine.hooks import EMAHook
    model = torch.nn.Linear(2, 1)
    ema = torch.nn.Linear(2, 1)
    checkpoint = dict(
        state_dict={k: v.clone() for k, v in ema.state_dict().items()},
        ema_state_dict={f'module.{k}': v.clone()
                        for k, v in model.state_dict().items()})
    checkpoint['ema_state_dict']['steps'] = torch.tensor(3)
    hook = EMAHook()
    runner = SimpleNamespace(model=model, _resume=True)
    # FlexibleRunner resumes before before_run: this used to raise
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_run(runner)
    averaged = dict(hook.ema_model.module.named_parameters())
    for name, value in ema.named_parameters():
        assert torch.equal(averaged[name], value), name
    assert int(hook.ema_model.steps) == 3
