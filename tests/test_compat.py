"""Each upstream workaround in vtg_plugins/compat.py, exercised on the real
upstream code path that fails without it."""
import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch

import vtg_plugins  # noqa: F401  (applies the fixes)
from vtg_plugins import compat


def test_mmaction_models_import_and_drn_placeholder_raises():
    import mmaction.models  # noqa: F401  (fails without the placeholder)
    from mmaction.models.localizers import DRN
    with pytest.raises(NotImplementedError, match='drn'):
        DRN()


def test_transformers_helpers_reexported_for_mmaction_multimodal():
    # vindlu's modeling_bert imports these from transformers.modeling_utils
    from mmaction.models.multimodal.vindlu import modeling_bert
    assert callable(modeling_bert.apply_chunking_to_forward)
    assert callable(modeling_bert.prune_linear_layer)


def test_numpy_aliases_used_by_mmaction_metrics():
    from mmaction.evaluation.functional import average_recall_at_avg_proposals
    from mmaction.evaluation.metrics.multimodal_metric import RetrievalRecall
    recall = RetrievalRecall.calculate(
        np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.15]]),
        [[1], [2]],
        topk=(1, 2),
        target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]
    # np.in1d flattens, as numpy < 2.4 did
    assert np.in1d(np.array([[1, 5], [3, 7]]), [3, 5]).tolist() == [
        False, True, True, False]
    gt = {'v': np.array([[0.0, 10.0]])}
    proposals = {'v': np.array([[0.0, 10.0, 0.9], [50.0, 60.0, 0.1]])}
    *_, auc = average_recall_at_avg_proposals(
        gt, proposals, 2, max_avg_proposals=2,
        temporal_iou_thresholds=np.array([0.5]))
    assert 0 < auc <= 100


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


def test_deepspeed_strategy_module_imports():
    from mmengine._strategy.deepspeed import register_deepspeed_optimizers
    names = register_deepspeed_optimizers()
    assert 'DeepSpeedCPUAdam' in names
    from mmengine.registry import OPTIMIZERS
    with pytest.raises(NotImplementedError, match='OnebitAdam'):
        OPTIMIZERS.get('OnebitAdam')([torch.nn.Parameter(torch.ones(1))])


@pytest.mark.slow
def test_deepspeed_bf16_training_on_cpu(tmp_path, repo, smoke_config,
                                        run_cmd):
    from vtg_plugins.testing.configs import write_config
    cfg = write_config(
        tmp_path / 'ds.py', smoke_config, '''
strategy = dict(type='DeepSpeedStrategy', inputs_to_half=['inputs'],
    config=dict(bf16=dict(enabled=True), train_micro_batch_size_per_gpu=4,
                zero_optimization=dict(stage=1)))
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper',
                     optimizer=dict(type='AdamW', lr=0.01))
param_scheduler = []
train_cfg = dict(max_epochs=2, val_interval=2)
''')
    proc = run_cmd([repo / 'tools' / 'dist_train.sh', cfg, 1, '--work-dir',
                    tmp_path / 'wd'],
                   env=dict(DS_ACCELERATOR='cpu', PORT='29733'))
    assert 'toy/num_samples: 11' in proc.stdout
    assert (tmp_path / 'wd' / 'epoch_2.pth').exists()


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

    class Wrapper:
        optimizer = 'OPTIM'

        def load_state_dict(self, state):
            loaded.update(state)

    strategy.optim_wrapper = Wrapper()
    strategy.load_optim_state_dict({'state': 1})
    assert seen == dict(model='MODEL', optim='OPTIM', state={'state': 1})
    assert loaded == {'loaded': True}


def test_cpu_model_wrapper_has_no_device_ids():
    cfg = compat.cpu_model_wrapper_cfg(dict(find_unused_parameters=True))
    assert cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        find_unused_parameters=True)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'previous complete checkpoint')
    backend = get_file_backend(str(path))

    class Boom(Exception):
        pass

    import os
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


def test_importing_vtg_plugins_stays_light():
    code = ('import sys, vtg_plugins; '
            'print(sorted(m for m in ("mmaction.models", "transformers", '
            '"deepspeed") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert "'mmaction.models'" not in out


def test_deepspeed_logs_stay_off_stdout():
    # tools print JSON on stdout; DeepSpeed (imported by mmengine) must not
    # write its accelerator warning there
    proc = subprocess.run(
        [sys.executable, '-c', 'import vtg_plugins, mmengine.runner'],
        capture_output=True,
        text=True,
        check=True)
    assert proc.stdout == ''
