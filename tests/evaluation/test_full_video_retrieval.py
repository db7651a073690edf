"""Full-video retrieval: 'official' against a loop oracle of the official
procedure, 'exact' against a per-pair oracle on the true sub-matrices, the
cases where they differ, the Runner metric and tools/evaluate.py."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.evaluation.functional import (full_video_retrieval,
                                               full_video_scores)
from vtg_plugins.evaluation.functional.full_video_retrieval import (
    recall_at_k, video_groups)
from vtg_plugins.registry import METRICS
from . import alignment_oracles as A

REPO = Path(__file__).resolve().parents[2]
CLOSE = dict(atol=1e-10, rtol=1e-8)


def _clip_set(rng, n_videos, max_len=6, shuffle=False):
    """Video ids per clip (one video with max_len clips, one with 1) and
    scores around 1, so that 1 - score has both signs."""
    lens = rng.integers(1, max_len + 1, n_videos)
    lens[0], lens[1] = max_len, 1
    ids = [f'vid{v:02d}' for v, n in enumerate(lens) for _ in range(n)]
    if shuffle:
        ids = [ids[i] for i in rng.permutation(len(ids))]
    m = 1.0 + 0.5 * rng.normal(size=(len(ids), len(ids)))
    return m, ids


def _assert_same(res, oracle):
    videos, caption, dtw, otam, recalls = oracle
    assert res.videos == videos
    assert np.allclose(res.caption, caption, **CLOSE)
    assert np.allclose(res.dtw, dtw, **CLOSE)
    assert np.allclose(res.otam, otam, **CLOSE)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_official_protocol_matches_the_official_procedure(seed):
    m, ids = _clip_set(np.random.default_rng(seed), 14)
    oracle = A.official_full_video(m, ids)
    _assert_same(full_video_scores(m, ids, 'official'), oracle)
    assert full_video_retrieval(m, ids, 'official') == oracle[4]
    assert list(oracle[4]) == [
        'R1', 'R5', 'R10', 'DTW-R1', 'DTW-R5', 'DTW-R10', 'OTAM-R1', 'OTAM-R5',
        'OTAM-R10'
    ]


@pytest.mark.parametrize('seed', [0, 1])
def test_exact_protocol_matches_per_pair_oracle(seed):
    # clips of a video scattered over the set: index lists, not slices
    m, ids = _clip_set(np.random.default_rng(seed), 14, shuffle=True)
    oracle = A.exact_full_video(m, ids)
    _assert_same(full_video_scores(m, ids, 'exact'), oracle)
    assert full_video_retrieval(m, ids) == oracle[4]
    # integer ids work the same (equality, no substring test)
    as_int = [int(i[3:]) for i in ids]
    assert full_video_retrieval(m, as_int) == oracle[4]


def test_substring_ids_merge_videos_only_under_official():
    ids = ['a1'] * 2 + ['a10'] * 3 + ['b'] * 2 + ['a2'] * 2
    _, official = video_groups(ids, 'official')
    _, exact = video_groups(ids, 'exact')
    assert [g.tolist() for g in official] == [[0, 1, 2, 3, 4], [2, 3, 4],
                                              [5, 6], [7, 8]]
    assert [g.tolist() for g in exact] == [[0, 1], [2, 3, 4], [5, 6], [7, 8]]
    # 'a1' and 'a10' share clips: the official in-place scaling compounds
    # on the shared block, as the step-by-step oracle does
    m = 1.0 + 0.5 * np.random.default_rng(4).normal(size=(9, 9))
    oracle = A.official_full_video(m, ids)
    _assert_same(full_video_scores(m, ids, 'official'), oracle)
    assert full_video_retrieval(m, ids, 'official') == oracle[4]
    _assert_same(
        full_video_scores(m, ids, 'exact'), A.exact_full_video(m, ids))
    # a set where the caption of 'a1' alone picks its own video
    m = np.full((9, 9), 0.0)
    for g in exact:
        m[np.ix_(g, g)] = 1.0
    m[5:7, 2:5] = 2.0  # 'b' captions prefer the 'a10' clips
    exact_res = full_video_retrieval(m, ids, 'exact')
    official_res = full_video_retrieval(m, ids, 'official')
    assert exact_res['R1'] == 0.75  # a1, a10, a2 right; b -> a10
    assert official_res['R1'] != exact_res['R1']


def test_a_video_of_max_length_zeroes_the_query_row_under_official():
    # 'b' has the most clips (L = 3): padding a block whose width is already
    # L zeroes the query's whole last caption row
    ids = ['a'] + ['b'] * 3 + ['c'] * 2
    m = 1.0 + 0.5 * np.random.default_rng(5).normal(size=(6, 6))
    official = full_video_scores(m, ids, 'official')
    exact = full_video_scores(m, ids, 'exact')
    # one caption: its only row is zeroed -> distance 0 to 'b'
    assert official.dtw[0, 1] == 0.0
    # exact: the 1x3 block is walked along, scaled by L^2 / (1 * 3) = 3
    assert exact.dtw[0, 1] == pytest.approx(3 * (1 - m[0, 1:4]).sum())
    # two captions: the path may stop anywhere on the first row, i.e. the
    # cheapest prefix of its running sum (scale L^2 / (2 * 3) = 1.5)
    row = 1.5 * (1 - m[4, 1:4])
    assert official.dtw[2, 1] == pytest.approx(np.cumsum(row).min())
    block = 1.5 * (1 - m[4:6, 1:4])
    assert exact.dtw[2, 1] == pytest.approx(A.dtw_by_paths(block))
    # a one-caption query against a narrower video keeps the true DTW
    assert official.dtw[0, 2] == pytest.approx(exact.dtw[0, 2])


def test_recall_ties_and_small_sets():
    flat = np.zeros((4, 4))
    # stable sort: among ties the last column ranks first -> only query 3
    assert recall_at_k(flat, (1, 2, 10), stable=True) == [0.25, 0.5, 1.0]
    # with fewer videos than k every query is a hit at k
    m = np.eye(3)[[1, 2, 0]]
    assert recall_at_k(m, (1, 5)) == A.official_recall(m, (1, 5)) == [0, 1]


def _samples(m_text, m_video, ids, as_element):
    out = []
    for i, (t, v, vid) in enumerate(zip(m_text, m_video, ids)):
        d = dict(sample_idx=i, video_id=vid, text_feature=t, video_feature=v)
        out.append(BaseDataElement(**d) if as_element else d)
    return out


@pytest.mark.parametrize('as_element', [False, True])
@pytest.mark.parametrize('protocol', ['exact', 'official'])
def test_metric_orders_by_sample_idx_and_dedupes(as_element, protocol):
    rng = np.random.default_rng(6)
    _, ids = _clip_set(rng, 10)
    text, video = rng.normal(size=(len(ids),
                                   8)), rng.normal(size=(len(ids), 8))
    samples = _samples(text, video, ids, as_element)
    order = list(rng.permutation(len(samples))) + [0, 1]  # + padding
    ev = Evaluator(
        METRICS.build(
            dict(type='FullVideoRetrievalMetric', protocol=protocol)))
    for i in range(0, len(order), 4):
        ev.process([samples[j] for j in order[i:i + 4]])
    got = ev.evaluate(len(order))
    want = full_video_retrieval(text @ video.T, ids, protocol)
    assert got == {f'full_video_retrieval/{k}': v for k, v in want.items()}


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'vtg_evaluate_tool_full_video', REPO / 'tools' / 'evaluate.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tool_reads_features_or_scores(tool, tmp_path, capsys):
    rng = np.random.default_rng(7)
    _, ids = _clip_set(rng, 9)
    text, video = rng.normal(size=(len(ids),
                                   4)), rng.normal(size=(len(ids), 4))
    np.savez(tmp_path / 'f.npz', text=text, video=video, video_ids=ids)
    np.savez(tmp_path / 's.npz', sim=text @ video.T, video_ids=ids)
    for name, protocol in (('f.npz', 'official'), ('s.npz', 'exact')):
        assert tool.main([
            'full_video_retrieval', '--pred',
            str(tmp_path / name), '--protocol', protocol
        ]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res == full_video_retrieval(text @ video.T, ids, protocol)
    # the default protocol is 'exact'
    assert tool.main(
        ['full_video_retrieval', '--pred',
         str(tmp_path / 's.npz')]) == 0
    assert json.loads(capsys.readouterr().out) == full_video_retrieval(
        text @ video.T, ids)
