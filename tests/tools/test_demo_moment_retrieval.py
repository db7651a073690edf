"""tools/demo/moment_retrieval.py with either method's config: R²-Tuning on
a tiny PyAV video (and its feature file), GroundNLQ on a feature file of a
synthetic Ego4D NLQ clip; random-init tiny models and CLIP."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from vtg_plugins.apis import MomentRetrievalInferencer

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'demo' / 'moment_retrieval.py'
PNG = b'\x89PNG\r\n\x1a\n'


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETUPS = _load(REPO / 'tests' / 'apis' / 'tiny_setups.py', 'tiny_setups')


@pytest.fixture
def tool():
    return _load(TOOL, 'moment_retrieval')


@pytest.fixture
def r2(tmp_path):
    """Video (9 s), CLIP weights, tiny-R2 config and checkpoint."""
    return SETUPS.write_r2_setup(tmp_path, 9)


@pytest.fixture
def gnlq(tmp_path):
    """Feature files, CLIP weights, tiny GroundNLQ config and checkpoint."""
    return SETUPS.write_groundnlq_setup(tmp_path)


def _args(s, video, *extra, queries=('a red thing', 'green')):
    return [
        str(video), *queries, '--config',
        str(s.cfg), '--checkpoint',
        str(s.ckpt), '--clip-checkpoint',
        str(s.clip), *map(str, extra)
    ]


def test_r2_demo_writes_plots_and_json(tool, r2, tmp_path, capsys):
    out = tmp_path / 'out'
    rc = tool.main(
        _args(r2, r2.video, '--out-plot', out / 'x.png', '--out-json',
              out / 'preds.json'))
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


def test_r2_demo_feature_file_and_gt(tool, r2, tmp_path):
    infer = MomentRetrievalInferencer(r2.cfg, r2.ckpt, clip_checkpoint=r2.clip)
    store = tmp_path / 'store'
    store.mkdir()
    np.save(store / 'v.npy', infer.video_extractor.encode_video(r2.video))
    (store / 'meta.json').write_text(
        json.dumps(infer.video_extractor.meta('video')))
    args = _args(
        r2,
        store / 'v.npy',
        '--gt',
        '2',
        '4',
        '--duration',
        '9',
        '--top-k',
        '2',
        '--out-plot',
        tmp_path / 'one.png',
        '--out-json',
        tmp_path / 'p.json',
        queries=['a red thing'])
    assert tool.main(args) == 0
    assert (tmp_path / 'one.png').read_bytes()[:8] == PNG
    pred = json.loads((tmp_path / 'p.json').read_text())[0]
    direct = infer(r2.video, 'a red thing')[0]
    assert pred['pred_relevant_windows'] == direct['pred_relevant_windows']
    assert pred['pred_saliency_scores'] == direct['pred_saliency_scores']


def test_groundnlq_demo_on_a_feature_file(tool, gnlq, tmp_path, capsys):
    video = gnlq.feats / f'{gnlq.vids[0]}.npy'
    queries = ['where did i put the cup?', 'what did i cut']
    rc = tool.main(
        _args(
            gnlq,
            video,
            '--out-plot',
            tmp_path / 'g.png',
            '--out-json',
            tmp_path / 'g.json',
            queries=queries))
    assert rc == 0
    preds = json.loads((tmp_path / 'g.json').read_text())
    infer = MomentRetrievalInferencer(
        gnlq.cfg, gnlq.ckpt, clip_checkpoint=gnlq.clip)
    direct_preds = infer(video, queries)
    assert len(preds) == len(direct_preds) == len(queries)
    for pred, direct in zip(preds, direct_preds):
        assert pred == direct  # moments only: no saliency
        assert 'pred_saliency_scores' not in pred and pred['vid'] == \
            gnlq.vids[0]
        assert 0 < len(pred['pred_relevant_windows']) <= 5
    for name in ('g_q0.png', 'g_q1.png'):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    printed = capsys.readouterr().out
    assert f"query 0: {queries[0]!r} ({preds[0]['duration']:.1f} s)" in \
        printed
    # a video file needs the video backbones, which are not shipped
    (tmp_path / 'clip.mp4').write_bytes(b'')
    assert tool.main(_args(gnlq, tmp_path / 'clip.mp4')) == 1
    assert 'cannot be computed here' in capsys.readouterr().err


def test_demo_errors(tool, r2, capsys):
    with pytest.raises(SystemExit):  # --gt with two queries
        tool.main(_args(r2, r2.video, '--gt', '2', '4'))
    assert '--gt belongs to one query' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(_args(r2, r2.video, '--gt', '2', '4', '6', queries=['q']))
    assert 'START END pairs' in capsys.readouterr().err
    bad = r2.video.with_name('bad.mp4')
    bad.write_bytes(b'garbage' * 50)
    assert tool.main(_args(r2, bad)) == 1
    err = capsys.readouterr().err
    assert 'cannot decode video' in err and 'bad.mp4' in err
    assert tool.main(_args(r2, r2.video, queries=[' '])) == 1
    assert 'query 0 is empty' in capsys.readouterr().err


def test_demo_cli_help(run_cmd):
    proc = run_cmd([sys.executable, TOOL, '--help'])
    assert '--clip-checkpoint' in proc.stdout and '--out-plot' in proc.stdout
