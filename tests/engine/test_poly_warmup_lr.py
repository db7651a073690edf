"""PolyDecayWithWarmupLR gives fairseq's polynomial_decay learning rates
update by update, survives a resume, and refuses impossible settings."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from vtg_plugins.engine import PolyDecayWithWarmupLR


def _fairseq(lr, warmup, total, power, end_lr, updates):
    """fairseq's PolynomialDecayLRSchedule after ``updates`` updates (its
    ``step_update``; before any, the initial ``lr / warmup``)."""
    if updates == 0 and warmup > 0:
        return lr / warmup
    if warmup > 0 and updates <= warmup:
        return lr * updates / warmup
    if updates >= total:
        return end_lr
    pct = 1 - (updates - warmup) / (total - warmup)
    return (lr - end_lr) * pct**power + end_lr


def _wrapper(lr=0.1):
    model = torch.nn.Linear(2, 1)
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=lr))


@pytest.mark.parametrize('warmup,total,power,end_lr', [(4, 20, 1.0, 0.0),
                                                       (3, 11, 2.0, 1e-3),
                                                       (0, 6, 1.0, 0.0)])
def test_matches_fairseq_each_update(warmup, total, power, end_lr):
    wrapper = _wrapper()
    sched = PolyDecayWithWarmupLR(
        wrapper,
        warmup_updates=warmup,
        total_updates=total,
        power=power,
        end_value=end_lr)
    for updates in range(total + 3):
        want = _fairseq(0.1, warmup, total, power, end_lr, updates)
        assert wrapper.get_lr()['lr'][0] == pytest.approx(want), updates
        wrapper.step()
        sched.step()


def test_resumes_where_it_stopped():
    first = _wrapper()
    sched = PolyDecayWithWarmupLR(first, warmup_updates=5, total_updates=50)
    for _ in range(12):
        first.step()
        sched.step()
    second = _wrapper()
    second.param_groups[0]['initial_lr'] = 0.1
    resumed = PolyDecayWithWarmupLR(second, warmup_updates=5, total_updates=50)
    resumed.load_state_dict(sched.state_dict())
    for _ in range(3):
        for wrapper, s in ((first, sched), (second, resumed)):
            wrapper.step()
            s.step()
    assert second.get_lr()['lr'][0] == pytest.approx(first.get_lr()['lr'][0])
    assert first.get_lr()['lr'][0] == pytest.approx(
        _fairseq(0.1, 5, 50, 1.0, 0.0, 15))


@pytest.mark.parametrize('kwargs,message', [
    (dict(warmup_updates=-1, total_updates=5), 'warmup_updates must be'),
    (dict(warmup_updates=5, total_updates=5), 'must exceed warmup_updates'),
    (dict(warmup_updates=1, total_updates=5, power=0), 'power must be'),
])
def test_refuses_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PolyDecayWithWarmupLR(_wrapper(), **kwargs)
