"""Hard-min DTW / OTAM: the official evaluation helpers against the fixture
made by running them, the correct distances against path enumeration."""
import numpy as np
import pytest
import torch

from vtg_plugins.evaluation.functional import (
    EvaluationError, dtw_distance, official_dtw_cumulative, official_dtw_pad,
    official_otam_cumulative, official_otam_pad, otam_distance)
from vtg_plugins.evaluation.functional import sequence_alignment
from vtg_plugins.testing import ref_path
from . import alignment_oracles as A

#: fixture keys of helpers that are not part of this module (the model
#: layer's cosine similarity)
NOT_ALIGNMENT = ('cos_sim', )


def _run(name, x, target):
    """(ours, loop oracle) for one fixture case."""
    if name == 'DTW_eval_cum_dist':
        return official_dtw_cumulative(x), A.official_dtw_cum(x)
    if name.startswith('OTAM_eval_cum_dist'):  # plain and prepadded inputs
        return official_otam_cumulative(x), A.official_otam_cum(x)
    t0, t1 = (int(n) for n in target.split('x'))
    otam = name == 'OTAM_pad'
    ours = (official_otam_pad if otam else official_dtw_pad)(x, t0, t1)
    return ours, A.official_pad(x[0, 0], t0, t1, otam)[None, None]


def test_official_helpers_match_fixture():
    ref = torch.load(
        ref_path('tempclr', 'hard_dtw_otam_eval.pt'), weights_only=False)
    checked = set()
    for key, case in ref.items():
        name, shape = key.split('/')
        if name in NOT_ALIGNMENT:
            continue
        ours, oracle = _run(name, case['dists'].numpy(), shape.split('->')[-1])
        assert ours.shape == tuple(case['out'].shape), key
        assert torch.allclose(
            torch.from_numpy(ours), case['out'], atol=1e-10, rtol=1e-8), key
        # the loop oracle (the full-video oracle's building block) too
        assert torch.allclose(
            torch.from_numpy(oracle), case['out'], atol=1e-10, rtol=1e-8), key
        checked.add(name)
    assert checked == {
        'DTW_eval_cum_dist', 'OTAM_eval_cum_dist',
        'OTAM_eval_cum_dist_prepadded', 'DTW_pad', 'OTAM_pad'
    }
    # the quirk cases are in the fixture: width already full -> whole rows
    # from the last real one on are zero
    out = ref['DTW_pad/3x5->5x5']['out'].numpy()[0, 0]
    assert (out[2:] == 0).all() and (out[:2] != 0).all()


def test_correct_distances_equal_path_definitions():
    rng = np.random.default_rng(0)
    for i in range(40):
        shape = tuple(int(n) for n in rng.integers(1, 5, 2))
        d = rng.normal(size=shape)  # negative distances too
        if i % 4 == 0:
            d = np.round(d, 0)  # ties between paths
        assert dtw_distance(d) == pytest.approx(A.dtw_by_paths(d)), shape
        assert otam_distance(d) == pytest.approx(A.otam_by_paths(d)), shape
    # one row: every cell is visited (OTAM cannot skip inside a row)
    assert otam_distance(np.array([[2., -1, 3]])) == 4.0
    # one column: DTW walks down it; OTAM may skip rows through the zero
    # columns and takes the cheapest single cell
    col = np.array([[2.], [5.], [1.]])
    assert dtw_distance(col) == 8.0 and otam_distance(col) == 1.0


def test_ragged_batch_reads_each_true_block_only():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(60, 6, 5))
    rows, cols = rng.integers(1, 7, 60), rng.integers(1, 6, 60)
    dtw, otam = dtw_distance(d, rows, cols), otam_distance(d, rows, cols)
    for b in range(60):
        block = d[b, :rows[b], :cols[b]]
        assert dtw[b] == pytest.approx(A.correct_dtw(block))
        assert otam[b] == pytest.approx(A.correct_otam(block))
    filler = d.copy()
    outside = (np.arange(6)[None, :, None] >= rows[:, None, None]) | \
        (np.arange(5)[None, None, :] >= cols[:, None, None])
    filler[outside] = 1e6
    assert np.array_equal(dtw_distance(filler, rows, cols), dtw)
    assert np.array_equal(otam_distance(filler, rows, cols), otam)


def test_official_otam_subtracts_in_the_first_column():
    # negative distances (scores above 1) make the sign visible; the fixture
    # inputs are in [0, 1), where minus and plus agree
    rng = np.random.default_rng(2)
    d = rng.normal(size=(3, 4, 5, 7))
    got = official_otam_cumulative(d)
    assert np.allclose(got, A.official_otam_cum(d, minus_first=True))
    assert not np.allclose(got, A.official_otam_cum(d, minus_first=False))
    assert (got[..., 0] == 0).all()  # column 0 is never read
    assert np.allclose(official_dtw_cumulative(d), A.official_dtw_cum(d))
    # on a prepadded non-negative input the official last cell is OTAM
    pos = rng.random((10, 4, 5))
    pre = np.pad(pos, ((0, 0), (0, 0), (1, 1)))
    assert np.allclose(
        official_otam_cumulative(pre)[:, -1, -1], otam_distance(pos))


def test_official_pad_zeroes_rows_when_the_width_is_full():
    d = np.arange(1., 7.).reshape(2, 3)
    # width 3 < 4: zeros from the last real row, right of the matrix
    out = official_dtw_pad(d, 3, 4)
    assert out.tolist() == [[1, 2, 3, np.inf], [4, 5, 6, 0],
                            [np.inf, np.inf, np.inf, 0]]
    # width already 3: the slice [-2:, -0:] zeroes rows 1.. entirely
    out = official_dtw_pad(d, 3, 3)
    assert out.tolist() == [[1, 2, 3], [0, 0, 0], [0, 0, 0]]
    out = official_otam_pad(d, 2, 3)
    assert out.tolist() == [[0, 1, 2, 3, 0], [0, 0, 0, 0, 0]]
    # per-matrix true sizes: the same as padding each cropped block
    blocks = np.stack([np.pad(d, ((0, 1), (0, 0))), np.ones((3, 3))])
    got = official_otam_pad(blocks, 4, 4, rows=[2, 3], cols=[3, 2])
    assert np.array_equal(got[0], official_otam_pad(d, 4, 4))
    assert np.array_equal(got[1], official_otam_pad(np.ones((3, 2)), 4, 4))


def test_chunks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(3)
    d = rng.normal(size=(2, 9, 4, 6))
    rows, cols = rng.integers(1, 5, (2, 9)), rng.integers(1, 7, (2, 9))
    whole = (dtw_distance(d, rows, cols), otam_distance(d, rows, cols),
             official_otam_cumulative(d))
    monkeypatch.setattr(sequence_alignment, 'CHUNK_ELEMENTS', 30)
    chunked = (dtw_distance(d, rows, cols), otam_distance(d, rows, cols),
               official_otam_cumulative(d))
    for a, b in zip(whole, chunked):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert whole[0].shape == (2, 9)


def test_bad_inputs_are_named():
    with pytest.raises(EvaluationError, match='dtw_distance.*NaN'):
        dtw_distance(np.array([[np.nan]]))
    with pytest.raises(EvaluationError, match=r'L, M >= 1.*\(3,\)'):
        otam_distance(np.zeros(3))
    with pytest.raises(EvaluationError, match=r'rows: lengths .* 1\.\.2'):
        dtw_distance(np.zeros((1, 2, 2)), rows=[3])
    with pytest.raises(EvaluationError, match='smaller'):
        official_dtw_pad(np.zeros((3, 3)), 2, 3)
