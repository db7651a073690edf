"""tools/train.py and tools/test.py on the smoke config, single process."""
import pickle
import re

import pytest
import torch

from vtg_plugins.testing.configs import write_config
from vtg_plugins.utils import launch


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def test_resume_reproduces_uninterrupted_run(tmp_path, repo, smoke_config,
                                             run_cmd):
    train = repo / 'tools' / 'train.py'
    full = tmp_path / 'full'
    run_cmd(['python', train, smoke_config, '--work-dir', full],
            cwd=tmp_path)
    interrupted = write_config(
        tmp_path / 'interrupted.py', smoke_config,
        "custom_hooks = [dict(type='InterruptAfterEpochHook', epoch=2)]")
    part = tmp_path / 'part'
    proc = run_cmd(['python', train, interrupted, '--work-dir', part],
                   cwd=tmp_path, check=False)
    assert proc.returncode != 0 and 'interrupted after epoch 2' in proc.stdout
    assert (part / 'epoch_2.pth').exists()
    assert not (part / 'epoch_3.pth').exists()
    # resume from the latest checkpoint of the work dir, without the hook
    proc = run_cmd(['python', train, smoke_config, '--work-dir', part,
                    '--resume'], cwd=tmp_path)
    assert 'resumed epoch: 2' in proc.stdout
    final_full = weights(full / 'epoch_4.pth')
    final_resumed = weights(part / 'epoch_4.pth')
    assert final_full.keys() == final_resumed.keys()
    for key in final_full:
        assert torch.equal(final_full[key], final_resumed[key]), key
    # and training did move the weights
    start = weights(part / 'epoch_2.pth')
    assert not torch.equal(start['linear.weight'],
                           final_full['linear.weight'])


def test_amp_on_cpu_trains_with_bf16_autocast(tmp_path, repo, smoke_config,
                                              run_cmd):
    proc = run_cmd(['python', repo / 'tools' / 'train.py', smoke_config,
                    '--work-dir', tmp_path / 'wd', '--amp',
                    '--cfg-options', 'train_cfg.max_epochs=2'], cwd=tmp_path)
    assert "type='BF16OptimWrapper'" in proc.stdout
    losses = [float(x) for x in re.findall(r'loss: ([0-9.]+)', proc.stdout)]
    assert losses and all(torch.isfinite(torch.tensor(losses)))


def test_test_tool_reports_metrics_and_dumps(tmp_path, repo, smoke_config,
                                            run_cmd, read_metrics):
    wd = tmp_path / 'wd'
    run_cmd(['python', repo / 'tools' / 'train.py', smoke_config,
             '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'],
            cwd=tmp_path)
    dump = tmp_path / 'preds.pkl'
    proc = run_cmd(['python', repo / 'tools' / 'test.py', smoke_config,
                    wd / 'epoch_1.pth', '--work-dir', wd, '--dump', dump],
                   cwd=tmp_path)
    metrics = read_metrics(proc.stdout)
    assert metrics['toy/num_samples'] == 11
    assert metrics['toy/num_results'] == 11
    preds = pickle.loads(dump.read_bytes())
    assert sorted(p['index'] for p in preds) == list(range(11))
    mse = sum((p['pred'] - p['target'])**2 for p in preds) / len(preds)
    assert mse == pytest.approx(metrics['toy/mse'], rel=1e-6)


def test_unknown_cfg_option_names_config_and_key(smoke_config):
    with pytest.raises(KeyError, match=r'smoke_linear.*optim_wraper'):
        launch.load_config(str(smoke_config),
                           {'optim_wraper.optimizer.lr': 0.1})
    with pytest.raises(KeyError, match=r'no key .optimzer.'):
        launch.load_config(str(smoke_config),
                           {'optim_wrapper.optimzer.lr': 0.1})
    with pytest.raises(KeyError, match='index 5 is out of range'):
        launch.load_config(str(smoke_config),
                           {'param_scheduler.5.end': 3})
    # an existing path, and a new leaf under an existing dict, are accepted
    cfg = launch.load_config(str(smoke_config), {
        'optim_wrapper.optimizer.lr': 0.5,
        'model.init_cfg': None
    })
    assert cfg.optim_wrapper.optimizer.lr == 0.5


def test_no_config_lint_flag_runs_a_config_the_lint_refuses(
        tmp_path, repo, smoke_config, run_cmd):
    # DefaultOptimWrapperConstructor ignores an unknown paramwise_cfg key
    config = write_config(
        tmp_path / 'typo.py', smoke_config,
        'optim_wrapper = dict(paramwise_cfg=dict(bias_lr_mul=0.1))')
    options = ['--cfg-options', 'train_cfg.max_epochs=1']
    train = repo / 'tools' / 'train.py'
    refused = run_cmd(['python', train, config, '--work-dir',
                       tmp_path / 'a', *options], cwd=tmp_path, check=False)
    assert refused.returncode != 0
    assert "paramwise_cfg.bias_lr_mul: paramwise_cfg takes no argument " \
        "'bias_lr_mul'; did you mean 'bias_lr_mult' or 'bias_decay_mult'? " \
        f"(in {config})" in refused.stdout
    proc = run_cmd(['python', train, config, '--work-dir',
                    tmp_path / 'b', *options, '--no-config-lint'],
                   cwd=tmp_path)
    assert '--no-config-lint: config keys not checked' in proc.stdout
    assert (tmp_path / 'b' / 'epoch_1.pth').exists()


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        launch.load_config(str(tmp_path / 'nope.py'), None)


def test_help_lists_installed_projects(repo, run_cmd):
    proc = run_cmd(['python', repo / 'tools' / 'train.py', '--help'])
    assert 'installed projects:' in proc.stdout
    from vtg_plugins.utils import list_projects
    for name in list_projects():
        assert name in proc.stdout


def test_cpu_model_wrapper_has_no_device_ids():
    cfg = launch.cpu_model_wrapper_cfg(dict(find_unused_parameters=True))
    assert cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        find_unused_parameters=True)


def test_cpu_distributed_names_an_unknown_launcher():
    with pytest.raises(ValueError, match="unknown launcher 'lsf'"):
        launch.init_cpu_distributed('lsf')
