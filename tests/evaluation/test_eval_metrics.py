"""BaseMetric wrappers through MMEngine's Evaluator (the Runner's path) and
the submission writers."""
import json

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.evaluation.functional import (ego4d_nlq_metrics,
                                               eval_qvhighlights)
from vtg_plugins.evaluation.submission import (check_ego4d_nlq_submission,
                                               dump_ego4d_nlq_submission,
                                               load_jsonl)
from vtg_plugins.registry import METRICS
from . import oracles as O


def _evaluate(cfg, samples, size=None):
    ev = Evaluator(METRICS.build(cfg))
    for i in range(0, len(samples), 4):
        ev.process(samples[i:i + 4])
    return ev.evaluate(size or len(samples))


def _qvh_samples(sub, gt, as_element):
    out = []
    for p, g in zip(sub, gt):
        d = dict(
            qid=p['qid'],
            vid=p['vid'],
            query='q',
            duration=g['duration'],
            gt_windows=torch.tensor(g["relevant_windows"]),
            relevant_clip_ids=g['relevant_clip_ids'],
            saliency_scores=g['saliency_scores'],
            pred_relevant_windows=torch.tensor(
                p['pred_relevant_windows'], dtype=torch.float64),
            pred_saliency_scores=np.array(p['pred_saliency_scores']))
        out.append(BaseDataElement(**d) if as_element else d)
    return out


@pytest.mark.parametrize('as_element', [False, True])
def test_qvhighlights_metric_dedupes_and_writes_submission(
        tmp_path, as_element):
    sub, gt = O.random_qvhighlights(12, seed=3)
    samples = _qvh_samples(sub, gt, as_element)
    # distributed padding repeats the first samples at the end
    res = _evaluate(
        dict(type='QVHighlightsMetric', out_dir=str(tmp_path)),
        samples + samples[:2],
        size=14)
    want = eval_qvhighlights(sub, gt)
    assert res == {f'qvhighlights/{k}': v for k, v in want.items()}
    lines = load_jsonl(tmp_path / 'hl_val_submission.jsonl')
    assert [r['qid'] for r in lines] == list(range(12))
    assert lines[0]['pred_relevant_windows'] == sub[0]['pred_relevant_windows']
    assert list(lines[0]) == [
        'qid', 'query', 'vid', 'pred_relevant_windows', 'pred_saliency_scores'
    ]


def test_moment_retrieval_metric_normalized_gt_and_prefix():
    sub, gt = O.random_qvhighlights(8, seed=4)
    samples = [
        dict(
            qid=p['qid'],
            duration=g['duration'],
            extra=dict(windows=g['relevant_windows']),
            pred_relevant_windows=p['pred_relevant_windows'])
        for p, g in zip(sub, gt)
    ]
    res = _evaluate(
        dict(type='MomentRetrievalMetric', prefix='charades'), samples)
    mr_only = [{
        k: v
        for k, v in d.items() if k != 'pred_saliency_scores'
    } for d in sub]
    want = eval_qvhighlights(mr_only, gt, 'r2tuning')
    assert res == {f'charades/{k}': v for k, v in want.items()}
    assert 'charades/MR-full-R1@0.3' in res


def test_metric_missing_field_names_sample():
    with pytest.raises(KeyError, match=r"qid=5.*pred_relevant_windows"):
        _evaluate(
            dict(type='MomentRetrievalMetric'),
            [dict(qid=5, duration=10, gt_windows=[[0, 1]])])


def test_ego4d_metric_with_ann_file_and_per_sample_gt(tmp_path):
    res, gt = O.random_ego4d_nlq(10, seed=2)
    ann = tmp_path / 'nlq_val.json'
    ann.write_text(json.dumps(gt))
    queries = {
        (c['clip_uid'], a['annotation_uid']): a['language_queries']
        for c in gt['videos'][0]['clips']
        for a in c['annotations']
    }
    samples = []
    for r in res:
        q = queries[(r['clip_uid'], r['annotation_uid'])][r['query_idx']]
        samples.append(
            dict(
                r,
                pred_windows=torch.tensor(
                    r['predicted_times'], dtype=torch.float64),
                gt_windows=[[q['clip_start_sec'], q['clip_end_sec']]]))
    want = {f'ego4d_nlq/{k}': v for k, v in ego4d_nlq_metrics(res, gt).items()}
    got = _evaluate(
        dict(type='Ego4DNLQMetric', ann_file=str(ann), out_dir=str(tmp_path)),
        samples + samples[:1], 11)
    assert got == want
    got = _evaluate(dict(type='Ego4DNLQMetric'), samples)
    assert got == want
    doc = json.loads((tmp_path / 'nlq_submission.json').read_text())
    assert check_ego4d_nlq_submission(doc) == res


def test_other_metrics_build_and_compute():
    rng = np.random.default_rng(0)
    # 24 candidates: R@10 is not 1 by construction
    t, v = rng.normal(size=(24, 4)), rng.normal(size=(24, 4))
    res = _evaluate(
        dict(type='TextVideoRetrievalMetric', protocol='tempclr'), [
            dict(qid=i, features=dict(text_feature=t[i], video_feature=v[i]))
            for i in range(24)
        ])
    sim = t @ v.T  # TempCLR: raw dot product
    for name, m in (('t2v', sim), ('v2t', sim.T)):
        r1, r5, r10, _, medr, _ = O.retrieval_recalls_and_ranks(m)
        assert {k: res[f'retrieval/{name}_{k}']
                for k in ('R1', 'R5', 'R10', 'MedR')} == dict(
                    R1=r1, R5=r5, R10=r10, MedR=medr)
    assert len(res) == 8
    assert 0 < res['retrieval/t2v_R10'] < 1
    res = _evaluate(
        dict(type='YouTubeHighlightsMetric'), [
            dict(
                vid='a',
                pred_saliency_scores=[.9, .1, .5],
                extra=dict(match=[1, -1, 1])),
            dict(
                vid='b',
                pred_saliency_scores=[.9, .1],
                extra=dict(match=[-1, 1]))
        ])
    assert res == {'youtube/mAP': 0.625}  # (1 + 0.25) / 2
    res = _evaluate(
        dict(type='MultipleChoiceMetric'), [
            dict(question_id=0, pred_scores=[.1, .9], gt_label=1),
            dict(question_id=1, pred_scores=[.8, .2], gt_label=1)
        ])
    assert res == {'mc/overall_acc': 0.5, 'mc/mc_accuracy': 50.0}
    res = _evaluate(
        dict(
            type='OpenEndedQAMetric',
            ans2label={
                'a': 0,
                'b': 1
            },
            task='frameqa'),
        [
            dict(question_id=0, pred_label=1, answer='b', answer_type='color'),
            dict(
                question_id=1, pred_label=1, answer='a', answer_type='object')
        ])
    assert res['qa/overall_acc'] == 0.5 and res['qa/color_acc'] == 1.0
    assert res['qa/number_acc'] == 0
    gt = np.zeros((5, 2))
    gt[0, 0] = gt[3, 1] = 1
    logits = torch.full((5, 2), -5.)
    logits[0, 0] = logits[3, 1] = 5.
    res = _evaluate(
        dict(type='CrossTaskMetric'),
        [dict(task='t', vid='v', pred_logits=logits, gt_assignment=gt)])
    assert res == {'crosstask/t': 1.0, 'crosstask/recall': 1.0}


def test_submission_writers_are_atomic_and_checked(tmp_path, monkeypatch):
    path = tmp_path / 'sub.json'
    dump_ego4d_nlq_submission([
        dict(
            clip_uid='c',
            annotation_uid='a',
            query_idx=0,
            predicted_times=[[0, 1]])
    ], str(path))
    before = path.read_text()
    # a failing write leaves the previous file intact and no temp file
    monkeypatch.setattr(json, 'dumps', lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        dump_ego4d_nlq_submission([], str(path))
    monkeypatch.undo()
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ['sub.json']
    with pytest.raises(ValueError, match='version does not match'):
        check_ego4d_nlq_submission(dict(version='2.0', results=[]))
    with pytest.raises(ValueError, match='misses'):
        dump_ego4d_nlq_submission([dict(clip_uid='c')], str(path))
