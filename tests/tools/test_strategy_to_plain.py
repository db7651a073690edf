"""tools/model_converters/strategy_to_plain.py: DeepSpeed checkpoints (real
ZeRO-2 bf16 and ZeRO-3 fp32 runs of the smoke config on 2 CPU processes)
become plain MMEngine checkpoints that tools/test.py scores as the training
validation did; bad inputs are refused naming the file."""
import importlib.util
import json
import os
import stat
import subprocess
import sys

import pytest
import torch

from vtg_plugins.testing.configs import write_config
from vtg_plugins.testing.toy import ToyRegressor
from vtg_plugins.utils.strategy_checkpoints import strategy_to_plain

# a frozen parameter (not in the optimizer) and buffers (BatchNorm stats)
FROZEN_TOY = '''
import torch
from vtg_plugins.registry import MODELS
from vtg_plugins.testing.toy import ToyRegressor


@MODELS.register_module()
class FrozenBiasToyRegressor(ToyRegressor):

    def __init__(self, dim=8, **kwargs):
        super().__init__(dim=dim, **kwargs)
        self.norm = torch.nn.BatchNorm1d(dim, affine=False)
        self.linear.bias.requires_grad_(False)

    def forward(self, inputs, *args, **kwargs):
        return super().forward(self.norm(inputs), *args, **kwargs)
'''
MODEL = '''
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_plugins.testing.toy', 'frozen_toy'],
    allow_failed_imports=False)
model = dict(type='FrozenBiasToyRegressor')
'''
DEEPSPEED = '''
strategy = dict(type='DeepSpeedStrategy', inputs_to_half={inputs},
    config=dict({half}train_micro_batch_size_per_gpu=4,
                zero_optimization=dict(stage={stage})))
optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper',
                     optimizer=dict(type='AdamW', lr=0.01))
param_scheduler = []
train_cfg = dict(max_epochs=1, val_interval=1)
'''


@pytest.fixture
def tool(repo):
    """The CLI module (``main(argv) -> exit code``)."""
    path = repo / 'tools' / 'model_converters' / 'strategy_to_plain.py'
    spec = importlib.util.spec_from_file_location('_strategy_to_plain', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train(tmp_path, repo, smoke_config, run_cmd, stage, bf16, port):
    """Train the frozen-bias toy 1 epoch on 2 processes with DeepSpeed.

    Returns:
        tuple: the plain config, the work dir, the env the tools need.
    """
    (tmp_path / 'frozen_toy.py').write_text(FROZEN_TOY)
    plain = write_config(tmp_path / 'model.py', smoke_config, MODEL)
    ds = write_config(
        tmp_path / f'zero{stage}.py', plain,
        DEEPSPEED.format(
            stage=stage,
            inputs=['inputs'] if bf16 else None,
            half='bf16=dict(enabled=True), ' if bf16 else ''))
    paths = [str(tmp_path), os.environ.get('PYTHONPATH')]
    env = dict(
        PYTHONPATH=os.pathsep.join(p for p in paths if p),
        DS_ACCELERATOR='cpu')
    train = repo / 'tools' / 'dist_train.sh'
    run_cmd([train, ds, 2, '--work-dir', tmp_path / 'wd'],
            env=dict(env, PORT=str(port)))
    return plain, tmp_path / 'wd', env


def _val_mse(work_dir):
    """``toy/mse`` of the last validation in the training's scalar log."""
    (log, ) = work_dir.glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    return [r['toy/mse'] for r in rows if 'toy/mse' in r][-1]


def _check_weights(ckpt_path, work_dir, zero3):
    """The converted checkpoint holds DeepSpeed's fp32 master weights (and
    the frozen bias), the buffers of the model states and the meta only.

    Returns:
        dict: its state dict.
    """
    from deepspeed.utils.zero_to_fp32 import \
        get_fp32_state_dict_from_zero_checkpoint
    name = 'zero_pp_rank_0_mp_rank_00_model_states.pt' if zero3 else \
        'mp_rank_00_model_states.pt'
    states = torch.load(work_dir / 'epoch_1.pth' / name, weights_only=False)
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert ckpt['meta'] == states['meta']
    assert {'epoch', 'iter', 'seed', 'dataset_meta'} <= set(ckpt['meta'])
    sd = ckpt['state_dict']
    for key, value in ToyRegressor().state_dict().items():
        assert sd[key].shape == value.shape, key
    master = get_fp32_state_dict_from_zero_checkpoint(
        work_dir, tag='epoch_1.pth')
    assert set(master) == set(sd) >= {'linear.bias', 'norm.running_var'}
    for key, value in master.items():
        assert torch.equal(
            sd[key],
            value.float() if value.is_floating_point() else value), key
    for key in states['buffer_names']:
        assert torch.equal(sd[key], states['module'][key]), key
    assert sd['norm.num_batches_tracked'].dtype == torch.int64
    assert all(v.dtype == torch.float32 for k, v in sd.items()
               if k != 'norm.num_batches_tracked')
    return sd


def _test_mse(repo, run_cmd, read_metrics, config, ckpt, env):
    """``toy/mse`` of tools/test.py on one process with ``ckpt``."""
    test = repo / 'tools' / 'test.py'
    proc = run_cmd(
        ['python', test, config, ckpt, '--work-dir', ckpt.parent / 'test'],
        env=env)
    assert 'missing keys' not in proc.stdout
    return read_metrics(proc.stdout)['toy/mse']


@pytest.mark.slow
def test_zero2_bf16_checkpoint(tmp_path, repo, smoke_config, run_cmd,
                               read_metrics, monkeypatch):
    monkeypatch.setenv('DS_ACCELERATOR', 'cpu')
    config, wd, env = _train(tmp_path, repo, smoke_config, run_cmd, 2, True,
                             29751)
    done = strategy_to_plain(wd / 'epoch_1.pth', tmp_path / 'fp32.pth')
    assert (done.kind, done.num_tensors, done.dtypes) == \
        ('DeepSpeed ZeRO-2', 5, 'float32')
    fp32 = _check_weights(tmp_path / 'fp32.pth', wd, zero3=False)
    # native: the bf16 weights of the model states, the rounded masters
    done = strategy_to_plain(
        wd, tmp_path / 'bf16.pth', 'native', tag='epoch_1.pth')
    assert done.dtypes == 'bfloat16, float32'
    native = torch.load(tmp_path / 'bf16.pth', weights_only=False)
    for key in ('linear.weight', 'linear.bias'):
        assert native['state_dict'][key].dtype == torch.bfloat16
        assert torch.equal(native['state_dict'][key],
                           fp32[key].to(torch.bfloat16)), key
    # the run validated in bf16, tools/test.py runs fp32
    mse = _test_mse(repo, run_cmd, read_metrics, config, tmp_path / 'fp32.pth',
                    env)
    assert mse == pytest.approx(_val_mse(wd), rel=1e-2)


@pytest.mark.slow
def test_zero3_fp32_checkpoint_through_the_cli(tmp_path, repo, smoke_config,
                                               run_cmd, read_metrics, tool,
                                               capsys, monkeypatch):
    monkeypatch.setenv('DS_ACCELERATOR', 'cpu')
    config, wd, env = _train(tmp_path, repo, smoke_config, run_cmd, 3, False,
                             29752)
    dst = tmp_path / 'plain.pth'
    assert tool.main([str(wd / 'epoch_1.pth'), str(dst)]) == 0
    assert capsys.readouterr().out == \
        f'wrote {dst}: 5 tensors (float32, fp32 master weights) from a ' \
        f'DeepSpeed ZeRO-3 checkpoint\n'
    _check_weights(dst, wd, zero3=True)
    mse = _test_mse(repo, run_cmd, read_metrics, config, dst, env)
    assert mse == pytest.approx(_val_mse(wd), rel=1e-6)
    with pytest.raises(ValueError, match="ZeRO-3.*use dtype='fp32'"):
        strategy_to_plain(wd / 'epoch_1.pth', tmp_path / 'x.pth', 'native')


# ------------------------------------------------------------- bad inputs
def _model_states(directory, name='mp_rank_00_model_states.pt', **state):
    """A DeepSpeed-style model states file (bf16 module, no ZeRO)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        'module': {
            'linear.weight': torch.ones(1, 8, dtype=torch.bfloat16),
            'linear.bias': torch.zeros(1, dtype=torch.bfloat16)
        },
        'buffer_names': [],
        'dp_world_size': 1,
        'meta': dict(epoch=3, iter=12, seed=0, dataset_meta={}),
        'message_hub': {},
        'optim_wrapper': {},
        **state
    }
    torch.save(state, directory / name)
    return directory


def assert_refused(src, *expected, error=ValueError, named=None, **kwargs):
    """Converting ``src`` raises ``error`` naming ``named`` (default
    ``src``) and every ``expected`` text, writing nothing."""
    dst = src.parent / 'out' / 'plain.pth'
    with pytest.raises(error) as err:
        strategy_to_plain(src, dst, **kwargs)
    msg = str(err.value)
    for text in (str(named or src), *expected):
        assert text in msg, f'{text!r} not in {msg!r}'
    assert not dst.parent.exists() or not os.listdir(dst.parent)
    return msg


def test_native_without_zero_keeps_dtype_and_meta_with_usual_mode(tmp_path):
    src = _model_states(tmp_path / 'epoch_3.pth')
    dst = tmp_path / 'plain.pth'
    umask = os.umask(0o022)
    try:
        done = strategy_to_plain(src, dst, 'native')
    finally:
        os.umask(umask)
    assert done.kind == 'DeepSpeed (no ZeRO)' and done.dtypes == 'bfloat16'
    assert stat.S_IMODE(dst.stat().st_mode) == 0o644
    ckpt = torch.load(dst, weights_only=False)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert ckpt['meta'] == dict(epoch=3, iter=12, seed=0, dataset_meta={})
    assert ckpt['state_dict']['linear.weight'].dtype == torch.bfloat16
    # no temporary file left beside it
    assert sorted(p.name
                  for p in tmp_path.iterdir()) == ['epoch_3.pth', 'plain.pth']


def test_a_hooks_state_dict_wins(tmp_path):
    # what EMAHook leaves under DeepSpeed (vtg_plugins.compat.mmengine)
    ema = {'linear.weight': torch.full((1, 8), 0.5, dtype=torch.bfloat16)}
    src = _model_states(
        tmp_path / 'epoch_1.pth', state_dict=ema, ema_state_dict={})
    done = strategy_to_plain(src, tmp_path / 'plain.pth')
    assert (done.dtypes, done.weights) == ('float32', "a hook's state_dict")
    ckpt = torch.load(tmp_path / 'plain.pth', weights_only=False)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert torch.equal(ckpt['state_dict']['linear.weight'],
                       torch.full((1, 8), 0.5))


def test_missing_plain_and_unknown_inputs(tmp_path):
    assert_refused(
        tmp_path / 'nope.pth', 'does not exist', error=FileNotFoundError)
    plain = tmp_path / 'plain.pth'
    torch.save(dict(state_dict={}), plain)
    assert_refused(plain, 'already a plain checkpoint')
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'notes.txt').write_text('x')
    assert_refused(tmp_path / 'other', 'neither a DeepSpeed', 'notes.txt')
    _model_states(tmp_path / 'wd' / 'epoch_1.pth')
    assert_refused(tmp_path / 'wd', 'holds checkpoints (epoch_1.pth)')
    assert_refused(
        tmp_path / 'wd',
        "no checkpoint tag 'epoch_9.pth'",
        'there: epoch_1.pth',
        error=FileNotFoundError,
        tag='epoch_9.pth')
    assert_refused(
        tmp_path / 'wd' / 'epoch_1.pth',
        'choose one of',
        named="'fp16'",
        dtype='fp16')


def test_fsdp_local_shards_refused_with_the_fix(tmp_path):
    src = tmp_path / 'epoch_1.pth'
    src.mkdir()
    for rank in range(2):
        torch.save({}, src / f'rank{rank}.pth')
    assert_refused(src, "state_dict_cfg='local'", "state_dict_cfg='full'")


def test_damaged_deepspeed_files(tmp_path):
    bad = tmp_path / 'corrupt.pth'
    bad.mkdir()
    (bad / 'mp_rank_00_model_states.pt').write_bytes(b'not a zip file')
    assert_refused(
        bad,
        'cannot be read as a torch checkpoint',
        named=bad / 'mp_rank_00_model_states.pt')
    states = _model_states(tmp_path / 'no_module.pth')
    torch.save(dict(meta={}), states / 'mp_rank_00_model_states.pt')
    assert_refused(states, 'not a DeepSpeed model states file')
    assert_refused(
        _model_states(tmp_path / 'no_zero.pth'), "no *_optim_states.pt",
        "use dtype='native'")
    half = _model_states(tmp_path / 'half.pth', dp_world_size=2)
    optim = half / 'bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt'
    optim.write_bytes(b'\0' * 16)
    assert_refused(half, '1 *_optim_states.pt files for 2 data-parallel')
    (half / 'bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt').write_bytes(
        optim.read_bytes())
    assert_refused(half, 'cannot be read', named=optim)
    parallel = _model_states(tmp_path / 'tp.pth')
    _model_states(parallel, 'mp_rank_01_model_states.pt')
    assert_refused(parallel, 'model-parallel')


def test_cli_prints_error_and_exits_2(tmp_path, repo, tool, capsys):
    (tmp_path / 'dst').mkdir()
    src = _model_states(tmp_path / 'epoch_1.pth')
    assert tool.main([str(src),
                      str(tmp_path / 'dst'), '--dtype', 'native']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {tmp_path / "dst"} is a directory')
    script = repo / 'tools' / 'model_converters' / 'strategy_to_plain.py'
    cmd = [sys.executable, script, tmp_path / 'missing', tmp_path / 'x.pth']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ''
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.splitlines()[-1] == \
        f'error: {tmp_path / "missing"} does not exist'
