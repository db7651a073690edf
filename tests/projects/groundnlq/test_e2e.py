"""End to end: the tiny GroundNLQ config trains through the real Runner on
synthetic Ego4D NLQ data (LMDB stores, official nested json), evaluates with
the official Ego4D NLQ metric on the EMA weights, and
``tools/test.py --dump`` writes an EvalAI json that ``tools/evaluate.py
ego4d_nlq`` scores to the same numbers."""
import json
import re
import sys

import pytest
import torch

from vtg_plugins.testing import make_ego4d_nlq

CONFIG = 'configs/groundnlq/groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py'
METRICS = ('R@1_IoU0.3', 'R@1_IoU0.5', 'R@3_IoU0.3', 'R@3_IoU0.5',
           'R@5_IoU0.3', 'R@5_IoU0.5', 'mIoU', 'mean_R')


def _val_metrics(log: str) -> dict:
    """The last ``Epoch(val)`` metrics line of a training log."""
    lines = [ln for ln in log.splitlines()
             if 'Epoch(val)' in ln and 'ego4d_nlq/' in ln]
    assert lines, log[-3000:]
    return {k: float(v) for k, v in re.findall(
        r'ego4d_nlq/(\S+): ([0-9.]+)', lines[-1])}


@pytest.mark.slow
def test_train_test_dump_and_evaluate(tmp_path, repo, run_cmd,
                                      read_metrics):
    root = tmp_path / 'data'
    data = make_ego4d_nlq(root, splits=dict(train=6, val=3), vid_dim=64,
                          txt_dim=32, seed=1)
    gt = data.extra['nlq_val']
    roots = [f'{loader}.dataset.data_root={root}/'
             for loader in ('train_dataloader', 'val_dataloader',
                            'test_dataloader')]
    options = ['--cfg-options', *roots, f'val_evaluator.ann_file={gt}',
               f'test_evaluator.ann_file={gt}']
    wd = tmp_path / 'wd'
    proc = run_cmd([sys.executable, repo / 'tools' / 'train.py',
                    repo / CONFIG, '--work-dir', wd, *options], cwd=tmp_path)
    val = _val_metrics(proc.stdout)
    assert set(val) == set(METRICS)
    assert val['mean_R'] > 0  # the tiny model learnt something
    ckpt = torch.load(wd / 'epoch_3.pth', map_location='cpu',
                      weights_only=False)
    # EMAHook: the saved state_dict is the EMA, the raw weights differ
    key = 'backbone.vid_embd.0.conv.weight'
    assert not torch.equal(ckpt['state_dict'][key],
                           ckpt['ema_state_dict'][f'module.{key}'])

    sub = tmp_path / 'sub.json'
    proc = run_cmd([sys.executable, repo / 'tools' / 'test.py',
                    repo / CONFIG, wd / 'epoch_3.pth', '--work-dir', wd,
                    '--dump', sub, *options], cwd=tmp_path)
    test = {k.split('/', 1)[1]: v for k, v in
            read_metrics(proc.stdout).items()}
    # the test run scores the same (EMA) weights as the last validation
    assert test == pytest.approx(val, abs=1e-4)

    doc = json.loads(sub.read_text())
    assert (doc['version'], doc['challenge']) == ('1.0',
                                                  'ego4d_nlq_challenge')
    nlq = json.loads(gt.read_text())
    expected = {(c['clip_uid'], a['annotation_uid'], i)
                for v in nlq['videos'] for c in v['clips']
                for a in c['annotations']
                for i, _ in enumerate(a['language_queries'])}
    got = [(r['clip_uid'], r['annotation_uid'], r['query_idx'])
           for r in doc['results']]
    assert sorted(got) == sorted(expected) and len(got) == 6
    for r in doc['results']:
        windows = r['predicted_times']
        assert 1 <= len(windows) <= 5 and all(len(w) == 3 for w in windows)
        scores = [w[2] for w in windows]
        assert scores == sorted(scores, reverse=True)

    proc = run_cmd([sys.executable, repo / 'tools' / 'evaluate.py',
                    'ego4d_nlq', '--pred', sub, '--gt', gt], cwd=repo)
    offline = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {k: offline[k] for k in METRICS} == pytest.approx(test,
                                                             abs=1e-9)
