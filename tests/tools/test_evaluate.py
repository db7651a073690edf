"""tools/evaluate.py: one JSON object per task, from official-format files."""
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

# the official evaluators written as loops (test code, beside the tests)
_ORACLES = importlib.util.spec_from_file_location(
    'evaluation_oracles', REPO / 'tests' / 'evaluation' / 'oracles.py')
O = importlib.util.module_from_spec(_ORACLES)
_ORACLES.loader.exec_module(O)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'vtg_evaluate_tool', REPO / 'tools' / 'evaluate.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


def _write_jsonl(path, records):
    path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    return str(path)


def _run(tool, capsys, *argv):
    rc = tool.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_qvhighlights_and_ego4d_as_commands(tmp_path, run_cmd, repo):
    sub, gt = O.random_qvhighlights(40, seed=7)
    pred = _write_jsonl(tmp_path / 'sub.jsonl', sub)
    gtf = _write_jsonl(tmp_path / 'gt.jsonl', gt)
    out = tmp_path / 'res.json'
    proc = run_cmd([
        sys.executable, 'tools/evaluate.py', 'qvhighlights', '--pred', pred,
        '--gt', gtf, '--protocol', 'r2tuning', '--out', out
    ],
                   cwd=repo)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res == O.qvhighlights_metrics(sub, gt, r2=True)
    assert json.loads(out.read_text()) == res
    results, nlq = O.random_ego4d_nlq(30, seed=1)
    (tmp_path / 'p.json').write_text(
        json.dumps(
            dict(
                version='1.0',
                challenge='ego4d_nlq_challenge',
                results=results)))
    (tmp_path / 'nlq_val.json').write_text(json.dumps(nlq))
    proc = run_cmd([
        sys.executable, 'tools/evaluate.py', 'ego4d_nlq', '--pred',
        tmp_path / 'p.json', '--gt', tmp_path / 'nlq_val.json'
    ],
                   cwd=repo)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    recall, miou = O.ego4d_nlq_recalls(results, nlq)
    assert res['R@1_IoU0.3'] == 100 * recall[0, 0]
    assert res['R@5_IoU0.5'] == 100 * recall[1, 2]
    assert res['mIoU'] == 100 * miou


def test_moment_retrieval_aliases_and_nan_as_null(tool, capsys, tmp_path):
    sub = [
        dict(
            qid=0,
            pred_relevant_windows=[[0, 4, .9]],
            pred_saliency_scores=[1, 2])
    ]
    gt = [dict(qid=0, duration=30, windows=[[0, 4]])]  # normalized format
    argv = [
        '--pred',
        _write_jsonl(tmp_path / 's.jsonl', sub), '--gt',
        _write_jsonl(tmp_path / 'g.jsonl', gt)
    ]
    rc, res, _ = _run(tool, capsys, 'charades', *argv)
    assert rc == 0 and res['MR-full-R1@0.7'] == 100.0
    assert res['MR-long-mAP'] == 100.0  # r2tuning: empty bucket -> full
    assert not any(k.startswith('HL') for k in res)
    rc, res, _ = _run(tool, capsys, 'tacos', '--protocol', 'official', *argv)
    assert res['MR-long-mAP'] is None  # empty bucket, official -> null


def test_errors_name_the_record(tool, capsys, tmp_path):
    sub = [dict(qid=3, pred_relevant_windows=[])]
    gt = [dict(qid=3, duration=30, relevant_windows=[[0, 4]])]
    argv = [
        'qvhighlights', '--pred',
        _write_jsonl(tmp_path / 's.jsonl', sub), '--gt',
        _write_jsonl(tmp_path / 'g.jsonl', gt)
    ]
    rc, _, err = _run(tool, capsys, *argv)
    assert rc == 1 and 'qid 3' in err and 'empty' in err
    rc, res, _ = _run(tool, capsys, *argv, '--on-invalid', 'miss')
    assert rc == 0 and res['MR-full-R1@0.5'] == 0.0
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(version='0.9', results=[])))
    rc, _, err = _run(tool, capsys, 'ego4d_nlq', '--pred', bad, '--gt', bad)
    assert rc == 1 and 'version does not match' in err


def test_youtube_tvsum_retrieval_qa_mc_crosstask(tool, capsys, tmp_path):
    pred = tmp_path / 'pred.json'
    pred.write_text(json.dumps({'a': [.9, .1, .5], 'b': [.9, .1]}))
    anno = tmp_path / 'anno.json'
    anno.write_text(
        json.dumps({
            'a': dict(match=[1, -1, 1], anno=[[1], [2], [2]]),
            'b': dict(match=[-1, 1], anno=[[2], [1]])
        }))
    assert _run(tool, capsys, 'youtube', '--pred', pred, '--gt', anno)[1] == {
        'mAP': 0.625
    }
    # tvsum, 1 annotator: a -> ranked [a0, a2, a1], lower median 2 -> no
    # positive -> 0; b -> median 1, b0 positive ranked first -> 1
    assert _run(tool, capsys, 'tvsum', '--pred', pred, '--gt', anno)[1] == {
        'mAP': 0.5
    }
    rng = np.random.default_rng(0)
    t, v = rng.normal(size=(12, 5)), rng.normal(size=(12, 5))
    np.savez(tmp_path / 'f.npz', text=t, video=v)
    res = _run(tool, capsys, 'retrieval', '--pred', tmp_path / 'f.npz')[1]
    sim = (t / np.linalg.norm(t, axis=1, keepdims=True)) @ \
        (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    assert res['t2v_R1'] == O.retrieval_recalls_and_ranks(sim)[0]
    assert res['v2t_MeanR'] == O.retrieval_recalls_and_ranks(sim.T)[5]
    (tmp_path / 'qp.json').write_text(
        json.dumps(
            [dict(question_id=1, answer=0),
             dict(question_id=2, answer=1)]))
    (tmp_path / 'qg.json').write_text(
        json.dumps([
            dict(question_id=1, answer='dog', answer_type='what'),
            dict(question_id=2, answer='dog', answer_type='who')
        ]))
    (tmp_path / 'a2l.json').write_text(json.dumps({'dog': 0, 'cat': 1}))
    res = _run(tool, capsys, 'qa', '--pred', tmp_path / 'qp.json', '--gt',
               tmp_path / 'qg.json', '--ans2label', tmp_path / 'a2l.json',
               '--qa-task', 'msrvtt_qa')[1]
    assert res['overall_acc'] == 0.5 and res['who_acc'] == 0.0
    (tmp_path / 'mg.json').write_text(json.dumps({'1': 0, '2': 0}))
    res = _run(tool, capsys, 'mc', '--pred', tmp_path / 'qp.json', '--gt',
               tmp_path / 'mg.json')[1]
    assert res == {'overall_acc': 0.5, 'mc_accuracy': 50.0}
    y = np.zeros((4, 2), np.float32)
    y[0, 0] = y[2, 1] = 1
    with open(tmp_path / 'ct.pkl', 'wb') as f:
        pickle.dump({'Y_pred': {'t': {'v': y}}}, f)
    csvs = tmp_path / 'csv'
    csvs.mkdir()
    (csvs / 't_v.csv').write_text('1,0.2,0.9\n2,3.0,4.0\n')
    res = _run(tool, capsys, 'crosstask', '--pred', tmp_path / 'ct.pkl',
               '--gt', csvs)[1]
    assert res == {'t': 0.5, 'recall': 0.5}  # step 2 annotated at frame 3


def test_cli_loads_numpy_and_the_functional_layer_only(tmp_path, repo):
    # scoring files offline must not pay for torch / mmengine / DeepSpeed
    sub = [
        dict(
            qid=0,
            query='q',
            vid='v',
            pred_relevant_windows=[[0, 4, .9], [10, 20, .3]],
            pred_saliency_scores=[.9, .8] + [.1] * 13)
    ]
    gt = [
        dict(
            qid=0,
            query='q',
            vid='v',
            duration=30,
            relevant_windows=[[0, 4]],
            relevant_clip_ids=[0, 1],
            saliency_scores=[[4, 4, 4], [2, 3, 4]])
    ]
    proc = subprocess.run([
        sys.executable, '-X', 'importtime', 'tools/evaluate.py',
        'qvhighlights', '--pred',
        _write_jsonl(tmp_path / 's.jsonl', sub), '--gt',
        _write_jsonl(tmp_path / 'g.jsonl', gt)
    ],
                          cwd=repo,
                          capture_output=True,
                          text=True,
                          check=True)
    imported = {
        line.rsplit('|', 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith('import time:')
    }
    assert {'numpy', 'vtg_plugins.evaluation.functional'} <= imported
    heavy = {'torch', 'mmengine', 'mmaction', 'mmcv', 'deepspeed',
             'transformers'}
    assert sorted(m for m in imported if m.split('.')[0] in heavy) == []
    res = json.loads(proc.stdout)
    assert res['MR-full-R1@0.5'] == 100.0
    assert res['HL-min-VeryGood-Hit1'] == 100.0
