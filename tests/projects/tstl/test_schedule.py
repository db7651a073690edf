"""configs/tstl/_base_/schedules/adamw_layer-decay_cosine.py against TSTL's
per-iteration ``cosine_scheduler`` (util_tools/utils.py), written out here:
``np.linspace(0, lr, W)`` over the warm-up iterations, then
``min + (lr - min) (1 + cos(pi i / (N - W))) / 2``; each group gets the
value times its ``lr_scale``."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

import vtg_tstl  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
SCHEDULE = REPO / 'configs/tstl/_base_/schedules/adamw_layer-decay_cosine.py'
EPOCH_LENGTH = 40  # iterations per epoch
MAX_EPOCHS = 10  # an entry config's train_cfg.max_epochs
SCALES = (1.0, 0.75**3)


def official_schedule(lr, min_lr, epochs, niter, warmup_epochs):
    warmup = warmup_epochs * niter
    rest = epochs * niter - warmup
    cosine = [
        min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * i / rest))
        for i in range(rest)
    ]
    return np.concatenate([np.linspace(0, lr, warmup), cosine])


def run_schedule(cfg, iterations):
    """lr of each group during iterations 0..iterations-1, stepping the
    schedulers as MMEngine's Runner does (built with ``epoch_length``,
    ``end`` defaulting to ``train_cfg.max_epochs``, one step per iter)."""
    lr = cfg.optim_wrapper.optimizer.lr
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in SCALES]
    optimizer = torch.optim.AdamW(
        [dict(params=[p], lr=lr * s) for p, s in zip(params, SCALES)], lr=lr)
    wrapper = OptimWrapper(optimizer)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = sched.copy()
        sched.setdefault('end', cfg.train_cfg.max_epochs)
        schedulers.append(
            PARAM_SCHEDULERS.build(
                sched,
                default_args=dict(
                    optimizer=wrapper, epoch_length=EPOCH_LENGTH)))
    values = []
    for _ in range(iterations):
        values.append([g['lr'] for g in optimizer.param_groups])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return np.array(values)


@pytest.fixture
def cfg():
    cfg = Config.fromfile(SCHEDULE)
    cfg.train_cfg.max_epochs = MAX_EPOCHS
    cfg.optim_wrapper.optimizer.lr = 1e-3 * 48 / 256  # an entry's lr
    return cfg


def test_schedule_matches_official_cosine_scheduler(cfg):
    lr = cfg.optim_wrapper.optimizer.lr
    min_lr = 1e-6 * 48 / 256  # the official min_lr, scaled the same way
    total = MAX_EPOCHS * EPOCH_LENGTH
    warmup = 5 * EPOCH_LENGTH
    ours = run_schedule(cfg, total)
    official = official_schedule(lr, min_lr, MAX_EPOCHS, EPOCH_LENGTH, 5)
    assert ours.shape == (total, 2) and official.shape == (total, )
    for g, scale in enumerate(SCALES):
        np.testing.assert_allclose(
            ours[:, g], official * scale, rtol=1e-9, atol=1e-8 * lr)
    # warm-up: from ~0 up to lr on its last iteration (np.linspace's end)
    assert ours[0, 0] == pytest.approx(1e-8 * lr)
    assert ours[warmup - 1, 0] == pytest.approx(lr, rel=1e-12)
    assert ours[warmup, 0] == pytest.approx(lr, rel=1e-12)
    assert ours[warmup // 2, 1] == pytest.approx(
        SCALES[1] * lr * (warmup // 2) / (warmup - 1), rel=1e-6)
    # per-group floor min_lr * lr_scale, approached on the last iteration
    last = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi *
                                                        (total - warmup - 1) /
                                                        (total - warmup)))
    for g, scale in enumerate(SCALES):
        assert ours[-1, g] == pytest.approx(last * scale, rel=1e-9)
        assert ours[warmup:, g].min() > min_lr * scale
    # the groups keep their lr ratio throughout
    np.testing.assert_allclose(ours[:, 1] / ours[:, 0], SCALES[1], rtol=1e-9)


def test_schedule_snippet_recipe():
    cfg = Config.fromfile(SCHEDULE)
    wrapper = cfg.optim_wrapper
    assert wrapper.constructor == 'TSTLLayerDecayOptimWrapperConstructor'
    assert wrapper.paramwise_cfg == dict(layer_decay_rate=0.75)
    assert wrapper.optimizer == dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    # official --clip_grad None; no weight-decay schedule (constant)
    assert 'clip_grad' not in wrapper
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, cosine.type) == ('LinearLR', 'CosineAnnealingLR')
    assert 'end' not in cosine  # follows train_cfg.max_epochs
    assert cosine.eta_min_ratio == pytest.approx(1e-6 / 1e-3)
    assert not cfg.auto_scale_lr.enable
    assert cfg.train_cfg.max_epochs == 30
