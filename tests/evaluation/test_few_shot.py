"""Few-shot episode accuracy and its 95% interval; the Runner metric and
tools/evaluate.py."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.evaluation.functional import (EvaluationError,
                                               episode_accuracies,
                                               few_shot_accuracy)
from vtg_plugins.registry import METRICS

REPO = Path(__file__).resolve().parents[2]


def test_hand_computed_mean_and_interval():
    # episode accuracies 1/2, 1, 1/2 -> mean 2/3; population std
    # sqrt(((1/6)^2 * 2 + (1/3)^2) / 3) = sqrt(1/18)
    res = few_shot_accuracy([[1, 0], [True, True], [0, 0, 1, 1]])
    assert res['accuracy'] == pytest.approx(200 / 3)
    assert res['ci95'] == pytest.approx(196 * np.sqrt(1 / 18) / np.sqrt(3))
    # the episode mean weighs episodes equally, not queries
    assert episode_accuracies([[1], [0, 0, 0]]).tolist() == [1.0, 0.0]
    assert few_shot_accuracy([[1], [0, 0, 0]])['accuracy'] == 50.0


def test_interval_uses_population_std_as_trx():
    rng = np.random.default_rng(0)
    correct = rng.random((25, 5)) < 0.6
    accs = correct.mean(axis=1)
    res = few_shot_accuracy(correct)
    # TRX run.py: 196 * np.array(accuracies).std() / sqrt(len(accuracies))
    assert res['ci95'] == pytest.approx(196 * accs.std() / np.sqrt(25))
    assert res['ci95'] != pytest.approx(196 * accs.std(ddof=1) / np.sqrt(25))
    assert few_shot_accuracy([[1, 1]]) == {'accuracy': 100.0, 'ci95': 0.0}


def test_bad_episodes_are_named():
    with pytest.raises(EvaluationError, match='no episodes'):
        few_shot_accuracy([])
    with pytest.raises(EvaluationError, match="episode 'e2' has no queries"):
        few_shot_accuracy([[1], []], episode_ids=['e1', 'e2'])
    with pytest.raises(EvaluationError, match='episode 0: correctness must'):
        few_shot_accuracy([[1, 2]])
    with pytest.raises(EvaluationError, match='episode 0: correctness must'):
        few_shot_accuracy([[1, np.nan]])


def _evaluate(samples, size):
    ev = Evaluator(METRICS.build(dict(type='FewShotAccuracyMetric')))
    for i in range(0, len(samples), 3):
        ev.process(samples[i:i + 3])
    return ev.evaluate(size)


def test_metric_per_query_and_per_episode_samples_agree():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 5, (6, 10))
    pred = np.where(rng.random((6, 10)) < 0.7, gt, (gt + 1) % 5)
    want = {
        f'few_shot/{k}': v
        for k, v in few_shot_accuracy(pred == gt).items()
    }
    queries = [
        dict(
            episode_id=e,
            query_idx=q,
            pred_label=int(pred[e, q]),
            gt_label=torch.tensor([gt[e, q]])) for e in range(6)
        for q in range(10)
    ]
    order = list(rng.permutation(60)) + [0, 1, 2]  # distributed padding
    assert _evaluate([queries[i] for i in order], 63) == want
    episodes = [
        BaseDataElement(
            episode_id=e,
            pred_label=torch.tensor(pred[e]),
            gt_label=torch.tensor(gt[e])) for e in range(6)
    ]
    assert _evaluate(episodes[::-1] + episodes[:1], 7) == want


def test_metric_refuses_mismatched_labels():
    bad = [dict(episode_id=3, pred_label=[1, 2], gt_label=[1])]
    with pytest.raises(EvaluationError, match='episode 3: 2 pred_label.*1 gt'):
        _evaluate(bad, 1)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'vtg_evaluate_tool_few_shot', REPO / 'tools' / 'evaluate.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tool_few_shot(tool, tmp_path, capsys):
    records = [
        dict(episode_id=0, pred_label=[1, 2, 3], gt_label=[1, 2, 0]),
        dict(episode_id='b', pred_label=4, gt_label=4),
        dict(episode_id='b', pred_label=1, gt_label=0),
    ]
    path = tmp_path / 'fs.json'
    path.write_text(json.dumps(records))
    assert tool.main(['few_shot', '--pred', str(path)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res == few_shot_accuracy([[1, 1, 0], [1, 0]])
    path.write_text(json.dumps([dict(episode_id=0, pred_label=[1])]))
    assert tool.main(['few_shot', '--pred', str(path)]) == 1
    assert "record 0 misses ['gt_label']" in capsys.readouterr().err
