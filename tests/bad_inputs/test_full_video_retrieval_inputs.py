"""Bad inputs of full-video retrieval: the functional core, the Runner
metric and ``tools/evaluate.py full_video_retrieval``. Each case asserts an
:class:`EvaluationError` whose message says what is wrong (and, from the
tool, names the file)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from mmengine.evaluator import Evaluator

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.evaluation.functional import (EvaluationError,
                                               full_video_retrieval)
from vtg_plugins.registry import METRICS

REPO = Path(__file__).resolve().parents[2]
IDS = ['a', 'a', 'b', 'b', 'c']


def _scores(n=5):
    return np.random.default_rng(0).random((n, n))


@pytest.mark.parametrize('scores,ids,message', [
    (np.zeros((0, 0)), [], 'no clips to evaluate'),
    (_scores(3), ['a'] * 3, r"1 video\(s\) \(\['a'\]\); ranking needs "
     r'at least 2'),
    (_scores(5)[:4], IDS, r'square \[N, N\].*shape \(4, 5\)'),
    (_scores(5), IDS[:4], '4 clip video ids for 5 score rows'),
    (np.ones((5, 5, 1)), IDS, r'square.*shape \(5, 5, 1\)'),
    ([['x'] * 2] * 2, ['a', 'b'], 'not a numeric matrix'),
    (_scores(3), ['a', ['b'], 'c'], r"id \['b'\] \(clip 1\) is not "
     'hashable'),
])
def test_functional_refuses(scores, ids, message):
    with pytest.raises(EvaluationError, match=message):
        full_video_retrieval(scores, ids)


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize('protocol', ['exact', 'official'])
def test_non_finite_scores_name_the_cell(value, protocol):
    scores = _scores()
    scores[3, 1] = value
    with pytest.raises(
            EvaluationError,
            match=r'1 NaN/inf score\(s\).*caption 3 x clip 1'):
        full_video_retrieval(scores, IDS, protocol)


def test_official_refuses_clips_out_of_video_order():
    ids = ['a', 'b', 'a', 'b']
    with pytest.raises(
            EvaluationError,
            match=r"video 'a' are not contiguous \(indices "
            r"\[0, 2\]"):
        full_video_retrieval(_scores(4), ids, 'official')
    assert 0 <= full_video_retrieval(_scores(4), ids, 'exact')['R1'] <= 1
    with pytest.raises(ValueError, match='protocol must be one of'):
        full_video_retrieval(_scores(4), ids, 'tempclr')


def _evaluate(samples, **cfg):
    ev = Evaluator(METRICS.build(dict(type='FullVideoRetrievalMetric', **cfg)))
    ev.process(samples)
    return ev.evaluate(max(len(samples), 1))


def test_metric_refuses():
    with pytest.raises(EvaluationError, match='no clips to evaluate'):
        _evaluate([])
    feats = dict(text_feature=[1., 0], video_feature=[0., 1])
    with pytest.raises(KeyError, match=r'sample_idx=0.*video_id'):
        _evaluate([dict(sample_idx=0, **feats)])
    with pytest.raises(EvaluationError, match='ranking needs at least 2'):
        _evaluate(
            [dict(sample_idx=i, video_id='v', **feats) for i in range(3)])
    nan = dict(text_feature=[np.nan, 0], video_feature=[0., 1])
    with pytest.raises(EvaluationError, match='NaN/inf score'):
        _evaluate(
            [dict(sample_idx=i, video_id=f'v{i}', **nan) for i in range(2)])
    with pytest.raises(ValueError, match='protocol must be one of'):
        METRICS.build(dict(type='FullVideoRetrievalMetric', protocol='x'))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'vtg_evaluate_tool_full_video_bad', REPO / 'tools' / 'evaluate.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fails(tool, capsys, path, *extra):
    assert tool.main(['full_video_retrieval', '--pred',
                      str(path), *extra]) == 1
    return capsys.readouterr().err


def test_tool_names_the_file(tool, tmp_path, capsys):
    path = tmp_path / 'p.npz'
    sim = _scores()
    sim[0, 4] = np.nan
    np.savez(path, sim=sim, video_ids=IDS)
    err = _fails(tool, capsys, path)
    assert f'{path}: full video retrieval: 1 NaN/inf' in err
    np.savez(path, text=np.ones((5, 2)), video=np.ones((4, 2)), video_ids=IDS)
    assert r'square [N, N]' in _fails(tool, capsys, path)
    np.savez(path, sim=_scores(), video_ids=IDS[:3])
    assert f'{path}: full video retrieval: 3 clip video ids for 5' in \
        _fails(tool, capsys, path)
    np.savez(path, sim=_scores())
    assert 'needs "video_ids"' in _fails(tool, capsys, path)
    np.savez(path, sim=_scores(), video_ids=np.array(IDS, dtype=object))
    assert 'not objects' in _fails(tool, capsys, path)
    np.savez(path, sim=_scores(), video_ids=IDS)
    assert 'not a full-video retrieval protocol' in _fails(
        tool, capsys, path, '--protocol', 'hd_vila')
