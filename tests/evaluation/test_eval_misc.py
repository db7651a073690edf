"""Retrieval, QA / MC, CrossTask and recognition metrics."""
import json

import numpy as np
import pytest

from vtg_plugins.evaluation.functional import (
    EvaluationError, crosstask_recall, index_accuracy,
    multiple_choice_accuracy, multiview_top_k_accuracy, open_ended_accuracy,
    gt_ranks, read_assignment, retrieval_metrics, step_dp,
    text_video_retrieval)
from vtg_plugins.testing import ref_path
from . import oracles as O


def test_retrieval_ties_give_one_rank_per_tied_entry():
    # row 0: diagonal tied with column 1 -> ranks 0 and 1; row 1: rank 0
    res = retrieval_metrics(np.array([[1., 1.], [0., 1.]]), ks=(1, ))
    assert res['R1'] == pytest.approx(2 / 3)
    assert res['MedR'] == 1.0 and res['MeanR'] == pytest.approx(4 / 3)


def test_retrieval_protocols_differ_by_normalisation():
    text, video = np.array([[1., 0], [2, 1]]), np.array([[1., 0], [0, 5]])
    # raw dot: row 1 = [2, 5] -> GT first; normalised: [.89, .45] -> second
    assert text_video_retrieval(text, video, 'tempclr')['t2v_R1'] == 1.0
    assert text_video_retrieval(text, video, 'hd_vila')['t2v_R1'] == 0.5
    assert 't2v_R50' not in text_video_retrieval(text, video, 'tempclr')


def test_retrieval_matches_oracle_and_mmaction2():
    from mmaction.evaluation.metrics import RetrievalMetric
    rng = np.random.default_rng(0)
    for decimals in (8, 1):
        sim = np.round(rng.random((70, 70)), decimals)
        assert tuple(retrieval_metrics(sim).values()) == \
            O.retrieval_recalls_and_ranks(sim)
    t, v = rng.normal(size=(30, 8)), rng.normal(size=(30, 8))
    mm = RetrievalMetric().compute_metrics(
        [dict(text_feature=a, video_feature=b) for a, b in zip(t, v)])
    ours = text_video_retrieval(t, v, 'hd_vila')
    for k in ('R1', 'R5', 'R10'):
        assert ours[f't2v_{k}'] * 100 == pytest.approx(mm[k])
    assert ours['t2v_MedR'] == mm['MdR'] and ours['t2v_MeanR'] == mm['MnR']


def test_gt_ranks_equal_the_sorted_lookup_with_ties_nan_and_inf():
    """The counting ranks are the official sort-and-look-up ranks, also on
    rows with ties, NaN and infinite scores (a non-finite diagonal gives no
    rank there: ``inf - inf`` is NaN)."""
    rng = np.random.default_rng(1)
    sim = np.round(rng.random((40, 40)), 1)
    sim[3, 3] = np.nan
    sim[5, [2, 9]] = np.nan
    sim[7, 7] = np.inf
    sim[8, [8, 1]] = -np.inf
    sim[11, [0, 4]] = np.inf
    sx = np.sort(-sim, axis=1)
    with np.errstate(invalid='ignore'):
        rows, ranks = np.where(sx - np.diag(-sim)[:, None] == 0)
    ours = gt_ranks(sim)
    assert ours.tolist() == ranks.tolist()  # row by row, ascending
    assert not {3, 7, 8} & set(rows.tolist())


def test_qa_and_mc_match_official_fixture():
    d = json.loads(ref_path('hd_vila', 'qa_mc.json').read_text())
    oe = d['open_ended_eval']
    label2ans = {v: k for k, v in oe['ans2label'].items()}
    pred = {r['question_id']: r['answer'] for r in oe['results']}
    gt = {int(k): v for k, v in oe['qid2data'].items()}
    got = open_ended_accuracy(pred, gt, label2ans,
                              ('what', 'who', 'how', 'where', 'when'))
    assert got == oe['metrics']
    ta = d['tgif_action_eval']
    acc = index_accuracy(
        {r['question_id']: r['answer']
         for r in ta['results']}, {
             int(k): v['answer']
             for k, v in ta['qid2data'].items()
         })
    assert acc == ta['metrics']['overall_acc']
    mc = d['msrvtt_mc']
    assert multiple_choice_accuracy(
        np.array(mc['scores']), np.array(mc['gt'])) == mc['official_eval']


def test_qa_out_of_vocabulary_answer_is_wrong():
    got = open_ended_accuracy({
        1: 0,
        2: 0
    }, {
        1: dict(answer='dog'),
        2: dict(answer='puppy')
    }, {0: 'dog'})
    assert got['overall_acc'] == 0.5
    with pytest.raises(EvaluationError, match='ids differ'):
        index_accuracy({1: 0}, {2: 0})


def test_step_dp_hand_computed_and_vs_oracle():
    # one frame per step, in order: step 1 at frame 0, step 2 at frame 1
    y = step_dp(np.array([[0, 1], [1, 0], [1, 1]], np.float32))
    assert y.tolist() == [[1, 0], [0, 1], [0, 0]]
    # order is enforced: step 2's cheap frame comes before step 1's
    y = step_dp(np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    assert y.sum(0).tolist() == [1, 1]
    assert np.argmax(y[:, 0]) < np.argmax(y[:, 1])
    rng = np.random.default_rng(0)
    for i in range(30):  # T > K (T == K is undefined behaviour in dp.pyx)
        t, k = int(rng.integers(5, 40)), int(rng.integers(1, 5))
        c = rng.random((t, k)).astype(np.float32)
        if i % 3 == 0:
            c = np.round(c, 1)  # ties: the candidate order decides
        assert np.array_equal(step_dp(c), O.crosstask_dp_assignment(c))
    # T == K: dp.pyx compares with a stale (unreachable) end state and
    # backtracks out of bounds; we end in the last step: the diagonal
    assert np.array_equal(step_dp(rng.random((4, 4))), np.eye(4))
    with pytest.raises(EvaluationError, match='cannot hold'):
        step_dp(np.zeros((2, 3)))


def test_crosstask_recall_and_read_assignment():
    yt = read_assignment(6, 2, [(1, 0.5, 1.2), (2, 3.0, 4.1)])
    # floor(start):ceil(end) -> step 1 frames 0-1, step 2 frames 3-4
    assert yt[:, 0].tolist() == [1, 1, 0, 0, 0, 0]
    assert yt[:, 1].tolist() == [0, 0, 0, 1, 1, 0]
    hit = np.zeros((6, 2))
    hit[1, 0] = hit[5, 1] = 1  # step 1 hit, step 2 miss
    y_true = {'t1': {'v': yt}, 't2': {'v': yt, 'w': yt}}
    y_pred = {'t1': {'v': hit}, 't2': {'v': hit, 'w': yt * 0 + hit}}
    res = crosstask_recall(y_true, y_pred)
    assert res['t1'] == 0.5 and res['t2'] == 0.5 and res['recall'] == 0.5
    assert res == pytest.approx({
        k: float(v)
        for k, v in O.crosstask_recalls(y_true, y_pred).items()
    } | {'recall': 0.5})


def test_multiview_accuracy():
    # view averaging: sample 0's views disagree, the mean picks class 2
    # sample 1: top-1 is class 1, class 0 is second
    scores = np.array([[[1., 0, .9], [0, 0, .9]], [[.5, 1., 0], [.5, 1., 0]]])
    res = multiview_top_k_accuracy(scores, [2, 0], topk=(1, 2))
    assert res == {'top1': 0.5, 'top2': 1.0}
    res = multiview_top_k_accuracy(scores, [2, 0], (1, ), average='prob')
    assert res == {'top1': 0.5}
