"""Submission files carry each query's id as the annotation file typed it,
so the official evaluators (and ``tools/evaluate.py``) score them against
that file: QVHighlights' integer qids stay integers, string ids stay
strings, and the in-process metric gives the same numbers as the file."""
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

import vtg_plugins.evaluation.metrics  # noqa: F401  (registers the metrics)
from vtg_plugins.datasets import (dump_grounding_annotations,
                                  load_grounding_annotations)
from vtg_plugins.evaluation.submission import load_jsonl
from vtg_plugins.registry import METRICS
from vtg_plugins.testing import make_qvhighlights
from vtg_plugins.utils.launch import adapt_amp_to_device

REPO = Path(__file__).resolve().parents[2]
EVALUATE = REPO / 'tools' / 'evaluate.py'
R2_TINY = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py'
PREFIX = 'qvhighlights/'


def _retype_qids(data, as_str):
    """Rewrite each split's qids as str (``as_str``) or leave the ints."""
    for path in data.annotations.values():
        rows = load_jsonl(path)
        assert all(type(r['qid']) is int for r in rows)
        if as_str:
            path.write_text(''.join(
                json.dumps(dict(r, qid=str(r['qid']))) + '\n' for r in rows))


def _tiny_r2_cfg(data_root, work_dir, epochs):
    cfg = Config.fromfile(R2_TINY)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.dataset.data_root = f'{data_root}/'
    cfg.train_dataloader.batch_size = 8
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = f'{data_root}/'
        cfg[name].batch_size = 4
    cfg.test_dataloader.dataset.ann_file = 'qvhighlights_val.jsonl'
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.test_evaluator = dict(
        type='QVHighlightsMetric', protocol='r2tuning', out_dir=str(work_dir))
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.randomness = dict(seed=0)
    adapt_amp_to_device(cfg)
    return cfg


def _evaluate_file(pred, gt, protocol):
    """``tools/evaluate.py qvhighlights`` as a user runs it: its JSON."""
    argv = [EVALUATE, 'qvhighlights', '--pred', pred, '--gt', gt]
    out = subprocess.run([sys.executable, *argv, '--protocol', protocol],
                         capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _assert_same_numbers(in_process, offline):
    in_process = {
        k[len(PREFIX):]: v
        for k, v in in_process.items() if k.startswith(PREFIX)
    }
    assert set(in_process) == set(offline)
    for key, value in in_process.items():
        if isinstance(value, float) and math.isnan(value):
            assert offline[key] is None, key
        else:
            assert offline[key] == value, key


@pytest.mark.parametrize('as_str', [False, True], ids=['int', 'str'])
def test_runner_submission_scores_against_the_source_file(tmp_path, as_str):
    """The tiny R²-Tuning trained one epoch (int ids; random-init for str
    ids) and tested by the Runner: the file's ids are the annotation's, in
    its type, and ``tools/evaluate.py`` scores the file against the
    annotation with the in-process numbers."""
    data = make_qvhighlights(
        tmp_path / 'data',
        splits=dict(train=2, val=3),
        queries_per_video=2,
        num_clips=(10, 14),
        num_tokens=5,
        vis_dim=64,
        txt_dim=64,
        num_topics=3,
        seed=2)
    _retype_qids(data, as_str)
    torch.manual_seed(0)
    runner = Runner.from_cfg(
        _tiny_r2_cfg(data.root, tmp_path / 'work', epochs=1))
    if not as_str:
        runner.train()
    metrics = runner.test()

    gt_file = data.annotations['val']
    sub_file = tmp_path / 'work' / 'hl_val_submission.jsonl'
    written = [r['qid'] for r in load_jsonl(sub_file)]
    source = [r['qid'] for r in load_jsonl(gt_file)]
    assert sorted(written, key=str) == sorted(source, key=str)
    assert {type(q) for q in written} == {str if as_str else int}
    offline = _evaluate_file(str(sub_file), str(gt_file), 'r2tuning')
    _assert_same_numbers(metrics, offline)


def _sample(qid, source_qid=None):
    s = dict(
        qid=qid,
        vid='v0',
        query='q',
        duration=10.0,
        relevant_windows=[[2.0, 4.0]],
        pred_relevant_windows=[[2.0, 4.0, 0.9], [6.0, 8.0, 0.1]])
    if source_qid is not None:
        s['source_qid'] = source_qid
    return s


@pytest.mark.parametrize('metric', [
    dict(type='MomentRetrievalMetric'),
    dict(type='DumpSubmission'),
])
def test_metrics_write_source_qids_and_dedupe_by_qid(tmp_path, metric):
    path = tmp_path / 'hl_val_submission.jsonl'
    metric = dict(metric)
    if metric['type'] == 'DumpSubmission':
        metric['out_file_path'] = str(path)
    else:
        metric['out_dir'] = str(tmp_path)
    m = METRICS.build(metric)
    samples = [_sample('32', 32), _sample('q1', 'q1'), _sample('32', 32)]
    m.process({}, samples)
    m.compute_metrics(m.results)
    assert [r['qid'] for r in load_jsonl(path)] == [32, 'q1']


@pytest.fixture
def warnings_logged():
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_samples_without_source_qid_write_their_qid_and_warn(
        tmp_path, warnings_logged):
    m = METRICS.build(
        dict(type='MomentRetrievalMetric', out_dir=str(tmp_path)))
    m.process({}, [_sample('32'), _sample(7)])
    m.compute_metrics(m.results)
    written = load_jsonl(tmp_path / 'hl_val_submission.jsonl')
    assert [r['qid'] for r in written] == ['32', 7]
    (line, ) = [r.getMessage() for r in warnings_logged]
    assert line.startswith('MomentRetrievalMetric: 1 data sample(s) carry '
                           "no 'source_qid' (e.g. qid '32')"), line


def test_normalized_gt_scores_by_source_qid(tmp_path):
    """A normalized annotation written from an int-id file is a GT that
    ``tools/evaluate.py`` matches with the int ids of the submission."""
    src = tmp_path / 'src.jsonl'
    src.write_text(
        json.dumps(
            dict(
                qid=5,
                vid='v0',
                query='q',
                duration=10,
                relevant_windows=[[2, 4]])) + '\n')
    norm = tmp_path / 'norm.jsonl'
    dump_grounding_annotations(
        load_grounding_annotations(src, fmt='qvhighlights'), norm)
    pred = tmp_path / 'pred.jsonl'
    pred.write_text(
        json.dumps(dict(qid=5, pred_relevant_windows=[[2.0, 4.0, 1.0]])) +
        '\n')
    for gt in (src, norm):
        res = _evaluate_file(str(pred), str(gt), 'r2tuning')
        assert res['MR-full-R1@0.5'] == 100.0, gt
