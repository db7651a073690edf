"""Projects as plugins: entry points, `mim` from outside the repository, and
a project installed on its own next to vtg_plugins."""
import shutil
import sys

from vtg_plugins.testing.configs import write_config
from vtg_plugins.utils import list_projects

# Makes every vtg_* package except vtg_plugins and the allowed project
# unimportable, as in an environment where only those two are installed.
BLOCKER = '''
import importlib.abc, sys
ALLOWED = {allowed!r}
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top.startswith('vtg_') and top not in ALLOWED:
            raise ModuleNotFoundError(f'{{name}} is not installed here')
        return None
sys.meta_path.insert(0, _Block())
'''


def test_projects_are_found_through_entry_points():
    projects = list_projects()
    assert projects['r2_tuning']['module'] == 'vtg_r2_tuning'
    assert projects['groundnlq']['dist'] == 'vtg-groundnlq'


def test_info_command_lists_versions_and_projects(run_cmd):
    out = run_cmd([sys.executable, '-m', 'vtg_plugins', 'info']).stdout
    for key in ('mmengine: 0.10.7', 'mmaction2: 1.2.0', 'cuda available',
                'r2_tuning (vtg-r2_tuning'):
        assert key in out, out


def test_mim_train_and_test_from_outside_the_repo(tmp_path, run_cmd,
                                                  read_metrics):
    # the relative config path resolves through vtg_plugins/.mim/configs
    config = 'configs/smoke/smoke_linear_1xb4-4e_synthetic.py'
    wd = tmp_path / 'wd'
    out = run_cmd(['mim', 'train', 'vtg_plugins', config, '--work-dir', wd,
                   '--cfg-options', 'train_cfg.max_epochs=1'],
                  cwd=tmp_path).stdout
    assert 'Training finished successfully' in out
    assert (wd / 'epoch_1.pth').exists()
    out = run_cmd(['mim', 'test', 'vtg_plugins', config, '--checkpoint',
                   wd / 'epoch_1.pth', '--work-dir', tmp_path / 'test'],
                  cwd=tmp_path).stdout
    assert read_metrics(out)['toy/num_samples'] == 11


def test_project_installed_alone_trains_from_custom_imports(
        tmp_path, repo, smoke_config, run_cmd):
    site = tmp_path / 'site'
    # build from a copy: setuptools writes build/ into the source tree
    src = tmp_path / 'toy_project'
    shutil.copytree(repo / 'tests' / 'data' / 'toy_project', src)
    run_cmd([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
             '--no-build-isolation', '--target', site, src])
    assert (site / 'vtg_toy' / '__init__.py').exists()
    hooks = tmp_path / 'hooks'
    hooks.mkdir()
    (hooks / 'sitecustomize.py').write_text(
        BLOCKER.format(allowed={'vtg_plugins', 'vtg_toy'}))
    env = dict(PYTHONPATH=f'{hooks}:{site}')
    # the other projects are really gone in this environment
    proc = run_cmd([sys.executable, '-c', 'import vtg_r2_tuning'], env=env,
                   check=False)
    assert 'vtg_r2_tuning is not installed here' in proc.stdout
    cfg = write_config(
        tmp_path / 'plugin_cfg.py', smoke_config,
        "custom_imports = dict(_delete_=True, imports=['vtg_toy'], "
        "allow_failed_imports=False)\n"
        "model = dict(type='ToyPluginRegressor')\n"
        "train_cfg = dict(max_epochs=1)")
    proc = run_cmd([sys.executable, repo / 'tools' / 'train.py', cfg,
                    '--work-dir', tmp_path / 'wd'], cwd=tmp_path, env=env)
    assert "type='ToyPluginRegressor'" in proc.stdout
    assert (tmp_path / 'wd' / 'epoch_1.pth').exists()
    out = run_cmd([sys.executable, '-m', 'vtg_plugins', 'info'],
                  env=env).stdout
    assert 'toy (vtg-toy 0.0.1)' in out
