"""HDVILAWarmupDecayLR against ``src/optimization/sched.py``'s
``get_lr_sched`` (written out here) as the ``run_*.py`` scripts call it:
the update count ``global_step``, ``num_train_steps = ceil(epochs * N /
global batch)`` and the epoch ``n_epoch`` of each script, stepped the way
MMEngine's Runner steps it (built from an epoch-based config, one step per
iteration, accumulated iterations sharing an update)."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_plugins.registry import PARAM_SCHEDULERS

BASE_LRS = (1e-5, 2e-5, 5e-6)  # transformer, cnn, align groups


def multi_step_schedule(n_epoch, milestones, step, warmup_step, gamma=0.5):
    if step <= warmup_step:
        return step / warmup_step
    for i, m in enumerate(sorted(milestones)):
        if n_epoch < m:
            return gamma**i
    return gamma**(len(milestones) + 1)


def warmup_linear(step, warmup_step, tot_step):
    if step < warmup_step:
        return step / warmup_step
    return max(0, (tot_step - step) / (tot_step - warmup_step))


def get_lr_sched(global_step, decay, learning_rate, num_train_steps,
                 warmup_ratio, decay_epochs, multi_step_epoch):
    warmup_steps = int(warmup_ratio * num_train_steps)
    if decay == 'linear':
        lr = learning_rate * warmup_linear(global_step, warmup_steps,
                                           num_train_steps)
    else:
        lr = learning_rate * multi_step_schedule(
            multi_step_epoch, decay_epochs, global_step, warmup_steps)
    return 1e-8 if lr <= 0 else lr


def _wrapper(accumulate=1):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in BASE_LRS]
    optimizer = torch.optim.SGD(
        [dict(params=[p], lr=lr) for p, lr in zip(params, BASE_LRS)], lr=1.0)
    return OptimWrapper(optimizer, accumulative_counts=accumulate)


def _lrs_at_updates(cfg, epochs, epoch_length, accumulate):
    """The lr of each group at each optimizer update of an
    ``epochs x epoch_length`` iteration run (the Runner's order: the lr of
    iteration i is set after iteration i - 1; iteration i updates when
    ``(i + 1) % accumulate == 0`` or it is the last)."""
    wrapper = _wrapper(accumulate)
    cfg = dict(cfg, end=epochs)  # the Runner's default end: max_epochs
    scheduler = PARAM_SCHEDULERS.build(
        cfg, default_args=dict(optimizer=wrapper, epoch_length=epoch_length))
    iters, out = epochs * epoch_length, []
    for i in range(iters):
        if (i + 1) % accumulate == 0 or i + 1 == iters:
            out.append([g['lr'] for g in wrapper.optimizer.param_groups])
        wrapper.step()
        scheduler.step()
    return out


def _cfg(decay, warmup_ratio, milestones=(), accumulate=1):
    cfg = dict(
        type='HDVILAWarmupDecayLR',
        decay=decay,
        warmup_ratio=warmup_ratio,
        accumulative_counts=accumulate,
        by_epoch=True,
        convert_to_iter_based=True)
    if milestones:
        cfg['milestones'] = list(milestones)
    return cfg


def test_retrieval_multi_step_schedule_step_by_step():
    # run_video_retrieval.py: 1 GPU x batch 4, N = 17 videos: ceil(17 / 4)
    # = 5 updates per epoch (= len(train_dataloader)), 10 epochs
    n, batch, epochs, milestones, ratio = 17, 4, 10, (2, 4, 6), 0.1
    steps_in_epoch = math.ceil(n / batch)
    got = _lrs_at_updates(
        _cfg('multi_step', ratio, milestones), epochs, steps_in_epoch, 1)
    # the official loop stops at ceil(epochs * N / batch) = 43 updates; an
    # epoch-based run does all 50 (the last batch of each epoch is short)
    total = epochs * steps_in_epoch
    assert math.ceil(epochs * n / batch) == 43 and len(got) == total
    for g, lrs in enumerate(got, 1):
        n_epoch = int(1. * g / steps_in_epoch)
        want = [
            get_lr_sched(g, 'multi_step', lr, total, ratio, milestones,
                         n_epoch) for lr in BASE_LRS
        ]
        assert lrs == pytest.approx(want, rel=1e-12), g
    # warm-up from lr / W, W = int(0.1 * 50) = 5 updates
    assert got[0][0] == pytest.approx(1e-5 / 5)
    # after the last milestone: gamma ** (3 + 1), as the official code
    assert got[-1][0] == pytest.approx(1e-5 * 0.5**4)


def test_qa_schedule_with_accumulation_step_by_step():
    # run_video_qa.py: 1 GPU x batch 2 x 4 accumulated, N = 24 questions:
    # 12 iterations, 3 updates per epoch, n_epoch = int(TB * g / N)
    n, batch, accumulate, epochs, milestones = 24, 2, 4, 6, (1, 2, 3, 4)
    total_batch = batch * accumulate
    epoch_length = n // batch
    got = _lrs_at_updates(
        _cfg('multi_step', 0.1, milestones, accumulate), epochs, epoch_length,
        accumulate)
    total = math.ceil(epochs * n / total_batch)
    assert len(got) == total == 18
    for g, lrs in enumerate(got, 1):
        n_epoch = int(1. * total_batch * g / n)
        want = [
            get_lr_sched(g, 'multi_step', lr, total, 0.1, milestones, n_epoch)
            for lr in BASE_LRS
        ]
        assert lrs == pytest.approx(want, rel=1e-12), g


def test_linear_schedule_with_accumulation_and_the_floor():
    # msrvtt_qa / pre-training: linear warm-up then linear decay to 0,
    # which the official floor turns into 1e-8 at the last update
    n, batch, accumulate, epochs = 40, 4, 2, 3
    got = _lrs_at_updates(
        _cfg('linear', 0.2, accumulate=accumulate), epochs, n // batch,
        accumulate)
    total = math.ceil(epochs * n / (batch * accumulate))
    assert len(got) == total == 15
    for g, lrs in enumerate(got, 1):
        want = [
            get_lr_sched(g, 'linear', lr, total, 0.2, (), 0) for lr in BASE_LRS
        ]
        assert lrs == pytest.approx(want, rel=1e-12), g
    assert got[-1] == [1e-8] * 3
    assert max(lrs[0] for lrs in got) == pytest.approx(1e-5)


def test_scheduler_checks_its_arguments():
    wrapper = _wrapper(accumulate=2)
    build = lambda cfg: PARAM_SCHEDULERS.build(  # noqa: E731
        dict(cfg, end=3),
        default_args=dict(optimizer=wrapper, epoch_length=4))
    with pytest.raises(ValueError, match='accumulates 2 iterations'):
        build(_cfg('multi_step', 0.1, (1, ), accumulate=1))
    with pytest.raises(ValueError, match="decay must be one of"):
        build(_cfg('cosine', 0.1, accumulate=2))
    with pytest.raises(ValueError, match="only read by decay='multi_step'"):
        build(_cfg('linear', 0.1, (1, ), accumulate=2))
    with pytest.raises(ValueError, match='warmup_ratio'):
        build(_cfg('linear', 1.0, accumulate=2))
