"""End to end through the real ``tools/train.py`` / ``tools/test.py`` /
``tools/dist_test.sh`` on PyAV-written videos: the tiny retrieval and the
tiny FrameQA configs train for two epochs (the official AdamW, parameter
groups and schedule, the hybrid encoder, BERT), then their checkpoints are
tested in one process and in two (gloo); both give the metrics recomputed
here from the checkpoint with the shared functional evaluators, and the
same per-sample predictions."""
import json
import pickle
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import make_qa_data, make_retrieval_data
from vtg_plugins.evaluation.functional import (ANSWER_TYPES,
                                               open_ended_accuracy,
                                               text_video_retrieval)
from vtg_plugins.registry import DATASETS, MODELS

CFG = 'configs/hd_vila/'
RETRIEVAL = CFG + 'hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py'
QA = CFG + 'hd_vila_tiny-video-qa_1xb2-2e_synthetic-frameqa.py'
DATA = 'data/hd_vila_synthetic/'


def _side_by_side(run_cmd, cwd, *calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [
            pool.submit(run_cmd, cmd, cwd=cwd, env=env) for cmd, env in calls
        ]
        return [f.result() for f in futures]


def _train_log(log: str):
    """``(lr, loss)`` of every logged training iteration."""
    return [(float(lr), float(loss)) for lr, loss in re.findall(
        r'Epoch\(train\) .*? lr: ([0-9.e+-]+) .*? loss: ([0-9.]+)', log)]


def _last_val(log: str, key: str) -> dict:
    lines = [ln for ln in log.splitlines() if 'Epoch(val)' in ln and key in ln]
    assert lines, log[-3000:]
    return {
        k: float(v)
        for k, v in re.findall(r'(\w+/\w+): ([0-9.]+)', lines[-1])
    }


def _predict(repo, config, checkpoint):
    """The test split's predicted data samples of ``checkpoint``."""
    cfg = Config.fromfile(str(repo / config))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = []
    with torch.no_grad():
        for begin in range(0, len(dataset), 3):
            items = [
                dataset[i] for i in range(begin, min(len(dataset), begin + 3))
            ]
            samples += model.test_step(hd_vila_collate(items))
    return samples


def _close(got: dict, want: dict) -> None:
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-6), key


def _dumped(path, key):
    with open(path, 'rb') as f:
        return sorted(pickle.load(f), key=lambda s: s[key])


def _train(repo, config, work_dir):
    """``tools/train.py`` of a config."""
    return ([
        sys.executable, repo / 'tools' / 'train.py', repo / config,
        '--work-dir', work_dir
    ], None)


def _tests(repo, tmp_path, name, config, checkpoint, port):
    """``tools/test.py`` and ``tools/dist_test.sh ... 2`` of a checkpoint,
    each dumping its predictions."""
    single = [
        sys.executable, repo / 'tools' / 'test.py', repo / config, checkpoint,
        '--work-dir', tmp_path / f'{name}1', '--dump',
        tmp_path / f'{name}1.pkl'
    ]
    dist = [
        repo / 'tools' / 'dist_test.sh', repo / config, checkpoint, 2,
        '--work-dir', tmp_path / f'{name}2', '--dump',
        tmp_path / f'{name}2.pkl'
    ]
    return [(single, None), (dist, dict(PORT=port))]


@pytest.mark.slow
def test_tiny_retrieval_and_qa_train_and_test(tmp_path, repo, run_cmd,
                                              read_metrics, monkeypatch):
    make_retrieval_data(tmp_path / DATA / 'retrieval')
    qa_data = make_qa_data(tmp_path / DATA / 'frameqa', 'frameqa')
    retrieval, qa = _side_by_side(run_cmd, tmp_path,
                                  _train(repo, RETRIEVAL, tmp_path / 'r'),
                                  _train(repo, QA, tmp_path / 'q'))

    # retrieval: 4 videos, batch 2, 2 epochs; the schedule: W = int(0.25 x
    # 4) = 1 warm-up update at lr, then epoch >= 1 (the official count:
    # int(update / 2)) past the last milestone: x 0.5 ** (1 + 1)
    steps = _train_log(retrieval.stdout)
    assert 'Epoch(train) [2][2/2]' in retrieval.stdout
    assert [lr for lr, _ in steps] == [1e-3, 2.5e-4, 2.5e-4, 2.5e-4]
    assert steps[-1][1] < steps[0][1]
    assert 'HD-VILA e2e optimizer: 7 groups' in retrieval.stdout
    # QA: 4 questions, batch 2, 2 accumulated: 1 update per epoch; linear
    # warm-up (W = 1, full lr at update 1), then the floor at update 2
    steps = _train_log(qa.stdout)
    assert [lr for lr, _ in steps] == [1e-3, 1e-3, 1e-8, 1e-8]

    checkpoints = [tmp_path / run / 'epoch_2.pth' for run in ('r', 'q')]
    runs = _side_by_side(
        run_cmd, tmp_path,
        *_tests(repo, tmp_path, 'r', RETRIEVAL, checkpoints[0], '29791'),
        *_tests(repo, tmp_path, 'q', QA, checkpoints[1], '29792'))

    monkeypatch.chdir(tmp_path)  # the configs' data paths are relative
    samples = _predict(repo, RETRIEVAL, checkpoints[0])
    text = np.stack([s.text_feature.numpy() for s in samples])
    video = np.stack([s.video_feature.numpy() for s in samples])
    assert np.ptp(text, axis=0).max() > 1e-3  # not one feature for all
    want = {
        f'msrvtt/{k}': v
        for k, v in text_video_retrieval(text, video, 'hd_vila').items()
    }
    for proc in runs[:2]:
        _close(read_metrics(proc.stdout), want)
    # validated after each epoch with the same (deterministic) inference
    assert _last_val(retrieval.stdout, 'msrvtt/t2v_R1') == {
        k: round(v, 4)
        for k, v in want.items()
    }
    one, two = (_dumped(tmp_path / f'r{i}.pkl', 'qid') for i in (1, 2))
    assert [s['qid'] for s in one] == [s['qid'] for s in two] == [0, 1, 2, 3]
    for a, b, s in zip(one, two, samples):
        for key in ('text_feature', 'video_feature'):
            assert torch.allclose(a[key], b[key], atol=1e-5)
            assert torch.allclose(a[key], s.get(key), atol=1e-5)

    samples = _predict(repo, QA, checkpoints[1])
    with open(qa_data.ans2label_file) as f:
        label2ans = {v: k for k, v in json.load(f).items()}
    pred = {s.question_id: s.pred_label for s in samples}
    gt = {
        s.question_id: dict(answer=s.answer, answer_type=s.answer_type)
        for s in samples
    }
    out = open_ended_accuracy(pred, gt, label2ans, ANSWER_TYPES['frameqa'])
    out.pop('ratios')
    want = {f'tgif_frameqa/{k}': v for k, v in out.items()}
    for proc in runs[2:]:
        _close(read_metrics(proc.stdout), want)
    one, two = (_dumped(tmp_path / f'q{i}.pkl', 'question_id') for i in (1, 2))
    assert [s['question_id'] for s in one] == [0, 1, 2, 3]
    assert [s['question_id'] for s in two] == [0, 1, 2, 3]
    for a, b, s in zip(one, two, samples):
        assert torch.allclose(a['pred_score'], b['pred_score'], atol=1e-5)
        assert torch.allclose(a['pred_score'], s.pred_score, atol=1e-5)
