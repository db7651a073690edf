"""tools/analysis/check_config.py: every config of configs/ passes; bad
keys, bad types and names that contradict values fail with status 1."""
import glob
import importlib.util
from pathlib import Path

import pytest
from mmengine.config import Config

from vtg_plugins.testing.configs import write_config
from vtg_plugins.utils.config_name import parse_config_name

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / 'configs' / 'smoke' / 'smoke_linear_1xb4-4e_synthetic.py'
TOOL = REPO / 'tools' / 'analysis' / 'check_config.py'
ENTRY_CONFIGS = sorted(
    p
    for p in glob.glob(str(REPO / 'configs' / '**' / '*.py'), recursive=True)
    if '_base_' not in Path(p).relative_to(REPO).parts)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('vtg_check_config', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(tool, capsys, *argv):
    code = tool.main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_every_config_in_configs_passes(tool, capsys):
    assert len(ENTRY_CONFIGS) >= 29
    code, out = _check(tool, capsys, REPO / 'configs')
    assert code == 0, out
    assert sorted(out.splitlines()) == sorted(f'ok {p}' for p in ENTRY_CONFIGS)
    # and every name states what the check compares: a config that trains
    # names its epochs, a test-only one (no train_dataloader) need not
    for path in ENTRY_CONFIGS:
        fields = parse_config_name(path)
        assert fields is not None, path
        trains = Config.fromfile(str(path)).get('train_dataloader')
        assert fields.epochs is not None or not trains, path


def test_bad_key_exits_1_naming_file_key_and_fix(tmp_path, run_cmd):
    config = write_config(tmp_path / 'typo.py', SMOKE,
                          'train_cfg = dict(val_intervl=2)')
    proc = run_cmd(['python', TOOL, SMOKE, config], check=False)
    assert proc.returncode == 1
    assert f'ok {SMOKE}' in proc.stdout
    assert f'{config}: 1 problem(s):' in proc.stdout
    assert ("train_cfg.val_intervl: EpochBasedTrainLoop takes no argument "
            "'val_intervl'; did you mean 'val_interval' or") in proc.stdout
    assert f'? (in {config})\n' in proc.stdout


def test_cfg_options_are_checked_too(tool, capsys):
    code, out = _check(tool, capsys, SMOKE, '--cfg-options',
                       'default_hooks.checkpoint.intervl=1')
    assert code == 1
    assert ("default_hooks.checkpoint.intervl: CheckpointHook takes no "
            "argument 'intervl'; did you mean 'interval'? (from "
            "--cfg-options default_hooks.checkpoint.intervl)") in out


@pytest.mark.parametrize(
    'name, body, problem',
    [('smoke_linear_8xb16-4e_synthetic.py',
      'auto_scale_lr = dict(base_batch_size=128)',
      'states 8xb16 but train_dataloader.batch_size is 4'),
     ('smoke_linear_1xb4-30e_synthetic.py', '',
      'states 30 epochs but the train loop (train_cfg) runs 4 epochs'),
     ('smoke_linear_1xb4-20k_synthetic.py', '',
      'states 20000 iters but the train loop (train_cfg) runs 4 epochs'),
     ('smoke_linear_1xb4-20k_synthetic.py',
      "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', "
      'max_iters=2000)',
      'states 20000 iters but the train loop (train_cfg) runs 2000 iters'),
     ('smoke_linear_2xb4-4e_synthetic.py', '',
      'states 2xb4 (total batch 8) but auto_scale_lr.base_batch_size is 4')])
def test_name_that_contradicts_values(tool, capsys, tmp_path, name, body,
                                      problem):
    config = write_config(tmp_path / name, SMOKE, body)
    code, out = _check(tool, capsys, config)
    assert code == 1
    assert f'{config}: 1 problem(s):\n  name: {name} {problem}' in out


def test_iteration_schedule_that_matches_passes(tool, capsys, tmp_path):
    config = write_config(
        tmp_path / 'smoke_linear_1xb4-2k_synthetic.py', SMOKE,
        "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', "
        'max_iters=2000, val_interval=500)')
    code, out = _check(tool, capsys, config)
    assert (code, out) == (0, f'ok {config}\n')


def test_name_without_the_field_is_noted_not_checked(tool, capsys, tmp_path):
    config = write_config(tmp_path / 'my_experiment.py', SMOKE)
    code, out = _check(tool, capsys, config)
    assert code == 0
    assert out == (f'ok {config} (name has no {{gpus}}xb{{batch}}-'
                   '{schedule} field: not checked)\n')


def test_config_that_cannot_load_is_a_problem(tool, capsys, tmp_path):
    config = tmp_path / 'broken.py'
    config.write_text('model = dict(type=\n')
    code, out = _check(tool, capsys, config, SMOKE)
    assert code == 1
    assert out.startswith(f'{config}: cannot be checked: ')
    assert f'ok {SMOKE}' in out


def test_directory_without_configs_fails(tool, capsys, tmp_path):
    code, out = _check(tool, capsys, tmp_path)
    assert code == 1 and 'no config found' in out
