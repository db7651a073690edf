"""tools/demo/moment_retrieval.py on a tiny PyAV video with a random-init
tiny CLIP and a random-init R²-Tuning of matching widths."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import vtg_r2_tuning  # noqa: F401  (registers R2Tuning)
from vtg_plugins.testing import feature_pipeline as H

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'demo' / 'moment_retrieval.py'
QVH = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py'
PNG = b'\x89PNG\r\n\x1a\n'


def _load_tool():
    spec = importlib.util.spec_from_file_location('moment_retrieval', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def files(tmp_path):
    """Video, CLIP weights, tiny-R2 config and checkpoint."""
    H.write_tiny_r2_setup(tmp_path, 9)
    return tmp_path


def _args(d, *extra, video='v.mp4', queries=('a red thing', 'green')):
    return [
        str(d / video), *queries, '--config',
        str(d / 'tiny_r2.py'), '--checkpoint',
        str(d / 'r2.pth'), '--clip-checkpoint',
        str(d / 'clip.pt'), *extra
    ]


def test_demo_writes_plots_and_json(files, capsys):
    tool = _load_tool()
    out = files / 'out'
    rc = tool.main(
        _args(files, '--out-plot', str(out / 'x.png'), '--out-json',
              str(out / 'preds.json')))
    assert rc == 0
    preds = json.loads((out / 'preds.json').read_text())
    assert [p['query'] for p in preds] == ['a red thing', 'green']
    for p in preds:
        # 9 s at 0.5 fps: round(4.5) = 5 clips
        assert p['vid'] == 'v' and p['duration'] == pytest.approx(9.0)
        assert len(p['pred_saliency_scores']) == 5
        win = np.asarray(p['pred_relevant_windows'])
        assert (win[:, :2] >= 0).all() and (win[:, :2] <= 9.0).all()
    for name in ('x_q0.png', 'x_q1.png'):
        assert (out / name).read_bytes()[:8] == PNG
    assert not list(out.glob('.*.tmp'))  # atomic writes leave no temp
    printed = capsys.readouterr().out
    assert "query 1: 'green' (9.0 s)" in printed
    best = preds[1]['pred_relevant_windows'][0]
    assert f'#1: {best[0]:.1f}-{best[1]:.1f} s' in printed


def test_demo_features_input_and_gt(files):
    tool = _load_tool()
    from vtg_plugins.apis.inferencer import MomentRetrievalInferencer
    infer = MomentRetrievalInferencer(
        files / 'tiny_r2.py',
        files / 'r2.pth',
        clip_checkpoint=files / 'clip.pt')
    np.save(files / 'v.npy', infer.extractor.encode_video(files / 'v.mp4'))
    args = _args(
        files,
        '--gt',
        '2',
        '4',
        '--duration',
        '9',
        '--top-k',
        '2',
        '--out-plot',
        str(files / 'one.png'),
        '--out-json',
        str(files / 'p.json'),
        video='v.npy',
        queries=['a red thing'])
    assert tool.main(args) == 0
    assert (files / 'one.png').read_bytes()[:8] == PNG
    pred = json.loads((files / 'p.json').read_text())[0]
    direct = infer(files / 'v.mp4', 'a red thing')[0]
    assert pred['pred_relevant_windows'] == direct['pred_relevant_windows']


def test_demo_errors(files, capsys):
    tool = _load_tool()
    with pytest.raises(SystemExit):  # --gt with two queries
        tool.main(_args(files, '--gt', '2', '4'))
    assert '--gt belongs to one query' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(_args(files, '--gt', '2', '4', '6', queries=['q']))
    assert 'START END pairs' in capsys.readouterr().err
    (files / 'bad.mp4').write_bytes(b'garbage' * 50)
    assert tool.main(_args(files, video='bad.mp4')) == 1
    err = capsys.readouterr().err
    assert 'cannot decode video' in err and 'bad.mp4' in err
    assert tool.main(_args(files, queries=[' '])) == 1
    assert 'query 0 is empty' in capsys.readouterr().err


def test_demo_cli_help(run_cmd):
    proc = run_cmd([sys.executable, TOOL, '--help'])
    assert '--clip-checkpoint' in proc.stdout and '--out-plot' in proc.stdout
