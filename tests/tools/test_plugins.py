"""Projects as plugins: entry points, `mim` from outside the repository, and
a project installed on its own next to vtg_plugins."""
import shutil
import sys

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


def test_example_project_installed_alone_trains_through_mim(
        tmp_path, repo, run_cmd):
    site = tmp_path / 'site'
    # build from a copy: setuptools writes build/ into the source tree
    src = tmp_path / 'example_project'
    shutil.copytree(repo / 'projects' / 'example_project', src,
                    ignore=shutil.ignore_patterns('*.egg-info', 'build',
                                                  '__pycache__'))
    run_cmd([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
             '--no-build-isolation', '--target', site, src])
    package = site / 'vtg_example_project'
    # the shipped annotations are package data of the distribution
    assert (package / 'datasets' / 'annotations' /
            'example_moments_train.jsonl').is_file()
    # and it announces itself in the entry-point group of the projects
    dist_info, = site.glob('vtg_example_project-*.dist-info')
    entry_points = (dist_info / 'entry_points.txt').read_text()
    assert '[vtg_plugins.projects]' in entry_points
    assert 'example_project = vtg_example_project' in entry_points
    hooks = tmp_path / 'hooks'
    hooks.mkdir()
    (hooks / 'sitecustomize.py').write_text(
        BLOCKER.format(allowed={'vtg_plugins', 'vtg_example_project'}))
    env = dict(PYTHONPATH=f'{hooks}:{site}')
    # the other projects are really gone in this environment, and the
    # example project comes from the --target install
    proc = run_cmd([sys.executable, '-c', 'import vtg_r2_tuning'], env=env,
                   check=False)
    assert 'vtg_r2_tuning is not installed here' in proc.stdout
    proc = run_cmd([sys.executable, '-c', 'import vtg_example_project; '
                    'print(vtg_example_project.__file__)'], env=env)
    assert proc.stdout.strip() == str(package / '__init__.py')
    # the config's custom_imports load the project; mim finds the config
    # through vtg_plugins/.mim/configs
    config = ('configs/example_project/'
              'example_project_mlp_1xb4-6e_example-moments.py')
    wd = tmp_path / 'wd'
    out = run_cmd(['mim', 'train', 'vtg_plugins', config, '--work-dir', wd,
                   '--cfg-options', 'train_cfg.max_epochs=2'],
                  cwd=tmp_path, env=env).stdout
    assert 'Training finished successfully' in out
    assert "type='ExampleMomentModel'" in out
    assert 'example/mIoU' in out
    assert (wd / 'epoch_2.pth').exists()
    out = run_cmd([sys.executable, '-m', 'vtg_plugins', 'info'],
                  env=env).stdout
    assert 'example_project (vtg-example_project 0.1.0)' in out
