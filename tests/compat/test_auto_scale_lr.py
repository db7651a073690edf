"""vtg_plugins.compat.mmengine: ``auto_scale_lr`` under DeepSpeed, which
mmengine 0.10.7's ``DeepSpeedStrategy.prepare`` ignored. A DeepSpeed
strategy prepared as ``FlexibleRunner`` prepares it (one gloo process on
DeepSpeed's CPU accelerator, in a child process: DeepSpeed's distributed
state stays out of the test session)."""
import json
import os
import socket
import subprocess
import sys

import pytest

PREPARE = '''
import json, sys
import torch
import vtg_plugins  # installs the fixes
from mmengine._strategy.deepspeed import DeepSpeedStrategy
from vtg_plugins.utils.launch import init_cpu_distributed
init_cpu_distributed('pytorch')  # gloo, as tools/train.py without CUDA
strategy = DeepSpeedStrategy(
    work_dir=sys.argv[1],
    zero_optimization=dict(stage=1),
    train_micro_batch_size_per_gpu=4,
    auto_scale_lr=dict(enable=True, base_batch_size=2),
    env_kwargs=dict(launcher='pytorch', dist_cfg=dict(backend='gloo')))
_, optim_wrapper, schedulers = strategy.prepare(
    torch.nn.Linear(2, 1),
    optim_wrapper=dict(type='DeepSpeedOptimWrapper',
                       optimizer=dict(type='AdamW', lr=0.1)),
    param_scheduler=dict(type='MultiStepLR', milestones=[5]),
    dispatch_kwargs=dict(train_micro_batch_size_per_gpu=4, max_epochs=1,
                         max_iters=10, epoch_length=10))
print(json.dumps(dict(
    world_size=strategy.world_size,
    lrs=[g['lr'] for g in optim_wrapper.optimizer.param_groups],
    scheduled=[s.base_values for s in schedulers])))
'''


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


@pytest.mark.slow  # DeepSpeed builds its CPU comm op on first use
def test_deepspeed_scales_the_lr_before_the_schedulers(tmp_path):
    env = dict(
        os.environ,
        DS_ACCELERATOR='cpu',
        OMP_NUM_THREADS='1',
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=_free_port())
    proc = subprocess.run([sys.executable, '-c', PREPARE,
                           str(tmp_path)],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # 1 process x 4 per GPU / base batch 2: the config's 0.1 doubled
    assert out['world_size'] == 1
    assert out['lrs'] == [pytest.approx(0.2)]
    assert out['scheduled'] == [[pytest.approx(0.2)]]
