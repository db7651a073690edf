"""End to end through the real ``tools/train.py`` / ``tools/test.py`` /
``tools/dist_test.sh``: the tiny TempCLR pre-trains on synthetic HowTo100M
shards (retrieval regrouping, contrastive + alignment loss, validation),
then its checkpoint is tested on YouCook2 retrieval and zero-shot CrossTask;
the metrics are recomputed here from the checkpoint and the dataset, and a
2-process (gloo) test gives the single-process metrics."""
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import vtg_tempclr  # noqa: F401  (registers TempCLR)
from vtg_plugins.evaluation.functional import (crosstask_recall,
                                               full_video_retrieval,
                                               similarity, step_dp,
                                               text_video_retrieval)
from vtg_plugins.registry import DATASETS, MODELS
from vtg_tempclr.datasets.collate import tempclr_collate
from vtg_tempclr.synthetic_data import write_synthetic_data

CFG = 'configs/tempclr/'
TINY = CFG + 'tempclr_tiny_1xb1-2e_synthetic-shards.py'
CROSSTASK = CFG + 'tempclr_tiny-zeroshot_1xb1_synthetic-crosstask.py'
DATA = 'data/tempclr_synthetic'


def _train_losses(log: str) -> list:
    return [(float(total), float(align)) for total, align in re.findall(
        r'Epoch\(train\).*? loss: ([0-9.]+) .*?loss_alignment: ([0-9.]+)',
        log)]


def _last_val(log: str) -> dict:
    lines = [ln for ln in log.splitlines()
             if 'Epoch(val)' in ln and 'youcook2/t2v_R1' in ln]
    assert lines, log[-3000:]
    return {k: float(v)
            for k, v in re.findall(r'(youcook2\w*/[\w-]+): ([0-9.]+)',
                                   lines[-1])}


def _model(repo, config, checkpoint):
    cfg = Config.fromfile(str(repo / config))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    return cfg, model.eval()


def _predict(model, dataset, batch_size: int) -> list:
    samples = []
    with torch.no_grad():
        for begin in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(
                begin, min(len(dataset), begin + batch_size))]
            samples += model.test_step(tempclr_collate(items))
    return samples


def _youcook2_metrics(repo, root, checkpoint) -> dict:
    """Both YouCook2 metrics recomputed from the checkpoint: the model's
    features, then the shared functions."""
    cfg, model = _model(repo, TINY, checkpoint)
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = str(root / 'youcook2')
    dataset_cfg.vocab_file = str(root / 'vocab.txt')
    samples = _predict(model, DATASETS.build(dataset_cfg), 3)
    text = np.stack([s.text_feature.numpy() for s in samples])
    video = np.stack([s.video_feature.numpy() for s in samples])
    out = {f'youcook2/{k}': v for k, v in
           text_video_retrieval(text, video, 'tempclr').items()}
    full = full_video_retrieval(similarity(text, video),
                                [s.video_id for s in samples], 'exact')
    out.update({f'youcook2_fullvideo/{k}': v for k, v in full.items()})
    return out


def _crosstask_metrics(repo, root, checkpoint) -> dict:
    cfg, model = _model(repo, CROSSTASK, checkpoint)
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = str(root / 'crosstask')
    dataset_cfg.vocab_file = str(root / 'vocab.txt')
    y_true, y_pred = {}, {}
    for s in _predict(model, DATASETS.build(dataset_cfg), 1):
        lsm = torch.log_softmax(s.pred_logits.float(), dim=1).numpy()
        y_pred.setdefault(s.task, {})[s.vid] = step_dp(-lsm)
        y_true.setdefault(s.task, {})[s.vid] = np.asarray(s.gt_assignment)
    return {f'crosstask/{k}': v
            for k, v in crosstask_recall(y_true, y_pred).items()}


def _side_by_side(run_cmd, cwd, *calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run_cmd, cmd, cwd=cwd, env=env)
                   for cmd, env in calls]
        return [f.result() for f in futures]


def _close(got: dict, want: dict) -> None:
    assert set(got) == set(want), (sorted(got), sorted(want))
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-6), key


@pytest.mark.slow
def test_pretrain_then_retrieval_and_crosstask(tmp_path, repo, run_cmd,
                                               read_metrics):
    root = tmp_path / DATA
    write_synthetic_data(root)
    wd = tmp_path / 'wd'
    proc = run_cmd([sys.executable, repo / 'tools' / 'train.py',
                    repo / TINY, '--work-dir', wd], cwd=tmp_path)
    log = proc.stdout
    # 16 videos in groups of 4, regrouped by the hook before each epoch
    assert 'Epoch(train) [2][4/4]' in log
    assert log.count('RetrievalBatchingHook: epoch') == 2
    losses = _train_losses(log)
    assert len(losses) == 8
    assert all(align > 0 for _, align in losses)  # the alignment term acts
    assert losses[-1][0] < losses[0][0]
    val = _last_val(log)
    checkpoint = wd / 'epoch_2.pth'

    # tools/test.py on the checkpoint: what the model's features give
    youcook2 = _youcook2_metrics(repo, root, checkpoint)
    single, dist = _side_by_side(
        run_cmd, tmp_path,
        ([sys.executable, repo / 'tools' / 'test.py', repo / TINY, checkpoint,
          '--work-dir', tmp_path / 't1'], None),
        ([repo / 'tools' / 'dist_test.sh', repo / TINY, checkpoint, 2,
          '--work-dir', tmp_path / 't2'], dict(PORT='29781')))
    _close(read_metrics(single.stdout), youcook2)
    _close(read_metrics(dist.stdout), youcook2)
    assert {k: round(v, 4) for k, v in youcook2.items()} == val

    crosstask = _crosstask_metrics(repo, root, checkpoint)
    assert set(crosstask) == {'crosstask/16815', 'crosstask/23521',
                              'crosstask/recall'}
    single, dist = _side_by_side(
        run_cmd, tmp_path,
        ([sys.executable, repo / 'tools' / 'test.py', repo / CROSSTASK,
          checkpoint, '--work-dir', tmp_path / 'c1'], None),
        ([repo / 'tools' / 'dist_test.sh', repo / CROSSTASK, checkpoint, 2,
          '--work-dir', tmp_path / 'c2'], dict(PORT='29782')))
    _close(read_metrics(single.stdout), crosstask)
    _close(read_metrics(dist.stdout), crosstask)
