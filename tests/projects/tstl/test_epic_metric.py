"""EpicKitchensMetric against a plain loop over the samples written from
CAST's ``engine_for_compomodel.merge`` definitions (softmax mean over views,
action = verb and noun both right)."""
import math

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401
from vtg_plugins.evaluation.functional import EvaluationError
from vtg_plugins.registry import METRICS

NUM_VERBS, NUM_NOUNS = 97, 300


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def _samples(rng, n, views=None):
    """Scores biased towards the label for about half the samples, so the
    accuracies are neither 0 nor 1."""
    out = []
    for _ in range(n):
        verb, noun = int(rng.integers(NUM_VERBS)), int(rng.integers(NUM_NOUNS))
        shape = (views, ) if views else ()
        v = rng.normal(size=shape + (NUM_VERBS, ))
        s = rng.normal(size=shape + (NUM_NOUNS, ))
        v[..., verb] += rng.choice([0.0, 1.5, 4.0])
        s[..., noun] += rng.choice([0.0, 1.5, 4.0])
        out.append(dict(pred_verb_score=torch.tensor(v),
                        pred_noun_score=torch.tensor(s),
                        verb_label=verb, noun_label=noun))
    return out


def _softmax_mean(views):
    """Mean over views of the per-view softmax (one loop per number)."""
    probs = []
    for row in views:
        top = max(row)
        e = [math.exp(x - top) for x in row]
        probs.append([x / sum(e) for x in e])
    return [sum(p[c] for p in probs) / len(probs) for c in range(len(row))]


def _oracle(samples):
    hits = {k: 0 for k in ('verb_top1', 'verb_top5', 'noun_top1',
                           'noun_top5', 'action_top1', 'action_top5')}
    for s in samples:
        ranked = {}
        for task in ('verb', 'noun'):
            scores = s[f'pred_{task}_score'].tolist()
            if isinstance(scores[0], list):
                scores = _softmax_mean(scores)
            ranked[task] = sorted(range(len(scores)),
                                  key=lambda c: -scores[c])
        top = {t: (s[f'{t}_label'] == ranked[t][0],
                   s[f'{t}_label'] in ranked[t][:5]) for t in ranked}
        for t in ('verb', 'noun'):
            hits[f'{t}_top1'] += top[t][0]
            hits[f'{t}_top5'] += top[t][1]
        # CAST: pred_verb * 1000 + pred_noun == label_verb * 1000 + label_noun
        pred_action = ranked['verb'][0] * 1000 + ranked['noun'][0]
        hits['action_top1'] += pred_action == (s['verb_label'] * 1000 +
                                               s['noun_label'])
        hits['action_top5'] += top['verb'][1] and top['noun'][1]
    return {f'acc/{k}': v / len(samples) for k, v in hits.items()}


def _evaluate(samples, batch=7, **cfg):
    evaluator = Evaluator(dict(type='EpicKitchensMetric', **cfg))
    for i in range(0, len(samples), batch):
        evaluator.process(samples[i:i + batch])
    return evaluator.evaluate(len(samples))


@pytest.mark.parametrize('views', [None, 6])
def test_matches_the_loop_oracle(views):
    samples = _samples(np.random.default_rng(views or 0), 60, views)
    result = _evaluate(samples)
    expected = _oracle(samples)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < result['acc/action_top1'] < result['acc/action_top5'] < 1


def test_reads_action_data_samples():
    sample = ActionDataSample()
    sample.set_field(torch.eye(NUM_VERBS)[4], 'pred_verb_score')
    noun = torch.eye(NUM_NOUNS)[9]
    noun[8] = 0.5
    sample.set_field(noun, 'pred_noun_score')
    sample.set_field(4, 'verb_label')
    sample.set_field(torch.tensor(8), 'noun_label')
    result = _evaluate([sample])
    assert result['acc/verb_top1'] == 1.0 and result['acc/noun_top1'] == 0.0
    assert result['acc/noun_top5'] == 1.0  # class 8 second
    assert result['acc/action_top1'] == 0.0


def test_topk_and_bad_scores():
    metric = METRICS.build(dict(type='EpicKitchensMetric', topk=(1, )))
    samples = _samples(np.random.default_rng(1), 5)
    metric.process(None, samples)
    assert set(metric.compute_metrics(metric.results)) == {
        'verb_top1', 'noun_top1', 'action_top1'
    }
    bad = dict(samples[0], filename='x.mp4')
    bad['pred_noun_score'] = bad['pred_noun_score'].clone()
    bad['pred_noun_score'][3] = float('nan')
    with pytest.raises(EvaluationError, match=r'sample 5 \(x.mp4\).*NaN'):
        metric.process(None, [bad])
    with pytest.raises(EvaluationError, match='verb_label 97 is outside'):
        metric.process(None, [dict(samples[0], verb_label=97)])
    with pytest.raises(ValueError, match='topk'):
        METRICS.build(dict(type='EpicKitchensMetric', topk=(0, 5)))
