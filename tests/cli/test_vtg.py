"""The ``vtg`` command: the overview, every subcommand's help with its
example, dispatch errors, and the examples run as written on the files
``make demo`` leaves (the demo scaled down, in a temporary folder laid out
like the repository root)."""
import importlib
import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest

from vtg_plugins.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]
VTG = Path(sys.executable).with_name('vtg')
#: the examples of these commands need files make demo does not write;
#: their own tests run them (tests/cli/test_retrieve.py, test_recognize.py)
OWN_FILES = ('retrieve', 'recognize')


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module(name):
    return importlib.import_module(f'vtg_plugins.cli.{name}')


def _examples(name):
    return [
        line.strip() for line in _module(name).EXAMPLE.strip().splitlines()
    ]


def test_overview_lists_every_command_with_its_example(run_cmd):
    out = run_cmd([VTG, '--help']).stdout
    for name in COMMANDS:
        assert f'  {name} ' in out, name
        for example in _examples(name):
            assert f'$ {example}' in out, example
    assert run_cmd([VTG], check=False).returncode == 2


def test_python_m_vtg_plugins_is_the_same_command(run_cmd):
    out = run_cmd([sys.executable, '-m', 'vtg_plugins', 'info']).stdout
    assert 'vtg_plugins' in out and 'torch' in out


@pytest.mark.parametrize('name', COMMANDS)
def test_subcommand_help_shows_its_example(name, capsys):
    try:
        status = main([name, '--help'])
    except SystemExit as e:
        status = e.code
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: vtg ' + name.split()[0]), out[:200]
    assert 'example:' in out
    for example in _examples(name):
        assert example in out, example


def test_unknown_command_and_kind(capsys):
    assert main(['trian']) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err
    assert main(['extract', 'frame']) == 2
    assert "unknown kind 'frame'" in capsys.readouterr().err


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    """A folder laid out like the repository root after ``make demo`` (its
    demo scaled down: 1 epoch, 16 train / 4 val videos)."""
    root = tmp_path_factory.mktemp('repo_root')
    demo = _load(REPO / 'projects' / 'r2_tuning' / 'tools' / 'demo.py',
                 'r2_demo_for_cli')
    demo.main([
        '--work-dir',
        str(root / 'work_dirs' / 'r2_tuning_demo'), '--epochs', '1',
        '--train-videos', '16', '--val-videos', '4'
    ])
    (root / 'configs').symlink_to(REPO / 'configs')
    return root


def _run_example(run_cmd, example, cwd, **kwargs):
    words = shlex.split(example)
    assert words[0] == 'vtg'
    return run_cmd([VTG, *words[1:]], cwd=cwd, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(
    'name', [n for n in COMMANDS if n not in OWN_FILES + ('demo', )])
def test_examples_run_as_written(name, demo_root, run_cmd):
    for example in _examples(name):
        out = _run_example(run_cmd, example, demo_root).stdout
        if name == 'predict':
            assert "query 0: 'a red thing'" in out
            assert (demo_root / 'moments_q0.png').stat().st_size > 0
        if name == 'evaluate':
            assert 'MR-full-mAP' in out
        if name == 'lint':
            assert '\nok configs/r2_tuning/' in '\n' + out


@pytest.mark.slow
def test_demo_examples_serve_the_page(demo_root):
    browser = _load(REPO / 'tests' / 'webdemo' / 'browser.py',
                    'demo_browser_cli')
    for example in _examples('demo'):
        words = shlex.split(example)[2:]
        port = words.index('--port')
        args = words[:port] + words[port + 2:]
        with browser.serving(args, demo_root) as url:
            assert url.startswith('http://127.0.0.1:')


def test_predict_runs_the_zero_shot_baseline_without_weights(tmp_path, capsys):
    """``vtg predict BASELINE_CONFIG none VIDEO ...``: the parameter-free
    CLIP baseline needs only the CLIP weights; its moments are those of
    the inferencer run directly."""
    from vtg_plugins.apis import MomentRetrievalInferencer
    from vtg_plugins.testing.feature_pipeline import (save_tiny_checkpoint,
                                                      write_video)
    config = REPO / 'configs' / 'clip_zeroshot' / \
        'clip-zeroshot_tiny-clip_1xb4_synthetic-qvhighlights.py'
    write_video(tmp_path / 'v.mp4', 16, 5)
    save_tiny_checkpoint(tmp_path / 'clip.pt', seed=1)
    out = tmp_path / 'preds.json'
    assert main([
        'predict',
        str(config), 'none',
        str(tmp_path / 'v.mp4'), 'a red thing', '--clip-checkpoint',
        str(tmp_path / 'clip.pt'), '--out-json',
        str(out)
    ]) == 0
    assert "query 0: 'a red thing' (16.0 s)" in capsys.readouterr().out
    want = MomentRetrievalInferencer(
        config, None, clip_checkpoint=tmp_path / 'clip.pt')(tmp_path / 'v.mp4',
                                                            ['a red thing'])
    got = json.loads(out.read_text())
    assert got[0]['pred_relevant_windows'] == want[0]['pred_relevant_windows']
    assert got[0]['pred_saliency_scores'] == want[0]['pred_saliency_scores']
