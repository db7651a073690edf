"""vtg_plugins.compat.deepspeed: mmengine's DeepSpeed strategy on DeepSpeed
0.19, and DeepSpeed's logs kept off stdout."""
import subprocess
import sys

import pytest
import torch

import vtg_plugins  # noqa: F401  (installs the fixes)


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


def test_deepspeed_logs_stay_off_stdout():
    # tools print JSON on stdout; DeepSpeed (imported by mmengine) must not
    # write its accelerator warning there
    code = ('import sys, vtg_plugins, mmengine.runner; '
            'from deepspeed.utils.logging import logger; '
            'print([h.stream.name for h in logger.handlers], file=sys.stderr)')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          check=True)
    assert "['<stderr>']" in proc.stderr
    assert proc.stdout == ''
