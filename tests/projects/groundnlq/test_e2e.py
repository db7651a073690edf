"""End to end: the tiny GroundNLQ config trains through the real Runner on
synthetic Ego4D NLQ data (LMDB stores, official nested json) whose moments
are learnable, evaluates with the official Ego4D NLQ metric on the EMA
weights and must score far above the same model untrained;
``tools/test.py --dump`` writes an EvalAI json that ``tools/evaluate.py
ego4d_nlq`` scores to the same numbers."""
import json
import re
import sys
from statistics import mean

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import set_random_seed

import vtg_groundnlq  # noqa: F401  (registers GroundNLQ)
from vtg_plugins.registry import MODELS
from vtg_plugins.testing import make_ego4d_nlq

CONFIG = 'configs/groundnlq/groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py'
RECALLS = tuple(f'R@{k}_IoU{iou}' for k in (1, 3, 5) for iou in (0.3, 0.5))
# averaged metrics -> the recalls they average; the names have changed over
# releases, so whichever the evaluator reports is checked
MEANS = dict(
    mean_R1=RECALLS[:2], mean_R1_R5=RECALLS[:2] + RECALLS[4:],
    mean_R=RECALLS)
VAL_VIDEOS = 8  # 2 queries each


def _val_metrics(log: str) -> dict:
    """The last ``Epoch(val)`` metrics line of a training log."""
    lines = [ln for ln in log.splitlines()
             if 'Epoch(val)' in ln and 'ego4d_nlq/' in ln]
    assert lines, log[-3000:]
    return {k: float(v) for k, v in re.findall(
        r'ego4d_nlq/(\S+): ([0-9.]+)', lines[-1])}


def _check_names_and_means(metrics: dict) -> None:
    """The six recalls, mIoU and one or more averages, each the mean of
    the recalls it names (computed here, independently)."""
    means = set(metrics) - set(RECALLS) - {'mIoU'}
    assert set(RECALLS) | {'mIoU'} <= set(metrics), metrics
    assert means and means <= set(MEANS), metrics
    for name in means:
        assert metrics[name] == pytest.approx(
            mean(metrics[k] for k in MEANS[name]), abs=1e-3), name


def _write_untrained(config, path) -> None:
    """The model training starts from (the config's seed, then
    ``init_weights``), as a checkpoint ``tools/test.py`` can score."""
    cfg = Config.fromfile(config)
    set_random_seed(cfg.randomness.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), path)


def _metrics(output: str, read_metrics) -> dict:
    return {k.split('/', 1)[1]: v for k, v in read_metrics(output).items()}


@pytest.mark.slow
def test_train_test_dump_and_evaluate(tmp_path, repo, run_cmd,
                                      read_metrics):
    root = tmp_path / 'data'
    # 12 query topics shared by train and val (a vocabulary), planted in
    # the video features of each GT window
    data = make_ego4d_nlq(root, splits=dict(train=40, val=VAL_VIDEOS),
                          vid_dim=64, txt_dim=32, signal=5.0, num_topics=12,
                          seed=1)
    gt = data.extra['nlq_val']
    roots = [f'{loader}.dataset.data_root={root}/'
             for loader in ('train_dataloader', 'val_dataloader',
                            'test_dataloader')]
    options = ['--cfg-options', *roots, f'val_evaluator.ann_file={gt}',
               f'test_evaluator.ann_file={gt}']
    wd = tmp_path / 'wd'
    _write_untrained(repo / CONFIG, tmp_path / 'untrained.pth')
    proc = run_cmd([sys.executable, repo / 'tools' / 'test.py',
                    repo / CONFIG, tmp_path / 'untrained.pth', '--work-dir',
                    tmp_path / 'wd_untrained', *options], cwd=tmp_path)
    before = _metrics(proc.stdout, read_metrics)
    proc = run_cmd([sys.executable, repo / 'tools' / 'train.py',
                    repo / CONFIG, '--work-dir', wd, *options], cwd=tmp_path)
    val = _val_metrics(proc.stdout)
    _check_names_and_means(before)
    _check_names_and_means(val)
    # measured (data seeds 1, 2): untrained R@1 0 / 0 (IoU0.3 / 0.5), R@5
    # IoU0.5 0, mIoU 0.4-1.7; trained R@1 44-50 / 38-44, R@5 IoU0.5 69-75,
    # mIoU 28-32; trained without the planted moments (signal 0, priors
    # only): R@1 31 / 12.5, R@5 IoU0.5 37.5, mIoU 18 (fails the last three)
    assert val['R@1_IoU0.3'] >= before['R@1_IoU0.3'] + 30, (before, val)
    assert val['R@1_IoU0.5'] >= before['R@1_IoU0.5'] + 25, (before, val)
    assert val['R@5_IoU0.5'] >= before['R@5_IoU0.5'] + 50, (before, val)
    assert val['mIoU'] >= before['mIoU'] + 20, (before, val)
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
    test = _metrics(proc.stdout, read_metrics)
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
    assert sorted(got) == sorted(expected)
    assert len(got) == 2 * VAL_VIDEOS
    for r in doc['results']:
        windows = r['predicted_times']
        assert 1 <= len(windows) <= 5 and all(len(w) == 3 for w in windows)
        scores = [w[2] for w in windows]
        assert scores == sorted(scores, reverse=True)

    proc = run_cmd([sys.executable, repo / 'tools' / 'evaluate.py',
                    'ego4d_nlq', '--pred', sub, '--gt', gt], cwd=repo)
    offline = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {k: offline[k] for k in test} == pytest.approx(test, abs=1e-9)
