"""The launchers users start multi-process runs with, each with an engine:
``tools/slurm_train.sh`` and ``mim train --launcher slurm`` (through a
stand-in ``srun`` that starts the tasks on this machine with slurm's
environment) and ``mim train --launcher pytorch``, 2 CPU processes."""
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def srun_on_path(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').symlink_to(os.path.join(HERE, 'fake_srun.sh'))
    venv = os.path.dirname(sys.executable)  # mim, torchrun of this install
    return dict(PATH=os.pathsep.join([str(bin_dir), venv, os.environ['PATH']]))


def _trained_on_two_ranks(log: str, work_dir) -> None:
    assert 'toy/num_samples: 11' in log  # the 11 val samples, gathered
    assert 'Distributed training: True' in log
    assert re.search(r'GPU number: 2\b', log), log[-3000:]  # world size
    assert (work_dir / 'epoch_2.pth').exists()


@pytest.mark.slow
def test_slurm_train_script_on_deepspeed(tmp_path, repo, smoke_config, run_cmd,
                                         srun_on_path):
    wd = tmp_path / 'wd'
    proc = run_cmd([
        repo / 'tools' / 'slurm_train.sh', 'debug', 'smoke', smoke_config, wd,
        '--strategy', 'deepspeed_zero2', '--cfg-options',
        'train_cfg.max_epochs=2'
    ],
                   env=dict(
                       srun_on_path,
                       GPUS='2',
                       GPUS_PER_NODE='2',
                       MASTER_PORT='29841',
                       DS_ACCELERATOR='cpu'))
    assert 'DeepSpeed: optim_wrapper OptimWrapper -> DeepSpeedOptimWrapper' \
        in proc.stdout
    _trained_on_two_ranks(proc.stdout, wd)
    assert (wd / 'epoch_2.pth' / 'mp_rank_00_model_states.pt').exists()


@pytest.mark.slow
@pytest.mark.parametrize('launcher, strategy, port',
                         [('pytorch', 'fsdp', '29842'),
                          ('slurm', None, '29843')])
def test_mim_train_launchers(launcher, strategy, port, tmp_path, smoke_config,
                             run_cmd, srun_on_path):
    wd = tmp_path / 'wd'
    cmd = [
        'mim', 'train', 'vtg_plugins', smoke_config, '--launcher', launcher,
        '--gpus', '2', '--port', port, '--work-dir', wd, '--cfg-options',
        'train_cfg.max_epochs=2'
    ]
    if launcher == 'slurm':
        # mim 0.3.9 under click >= 8.2 fails without --srun-args
        # ("'Sentinel' object has no attribute 'split'")
        cmd[cmd.index('--gpus'):cmd.index('--gpus')] = [
            '--partition', 'debug', '--gpus-per-node', '2',
            '--srun-args=--kill-on-bad-exit=1'
        ]
    if strategy:
        cmd += ['--strategy', strategy]
    proc = run_cmd(cmd, env=srun_on_path)
    if strategy == 'fsdp':
        assert 'FSDP: optim_wrapper -> FSDPOptimWrapper' in proc.stdout
    _trained_on_two_ranks(proc.stdout, wd)
