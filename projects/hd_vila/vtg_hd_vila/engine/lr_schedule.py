"""HD-VILA's learning-rate schedule (``src/optimization/sched.py``
``get_lr_sched`` as the ``run_*.py`` scripts call it), in closed form.

At optimizer update ``g = 1 .. total`` (counted from 1, set before the
update), with ``W = int(warmup_ratio * total)`` and the epoch ``e(g)`` the
scripts compute from the update count (``int(g / updates per epoch)``), the
factor on each group's base lr is

- ``decay='multi_step'``: ``g / W`` while ``g <= W``; then ``gamma ** i``
  for the first milestone (epochs, sorted) with ``e(g) < m_i``, and
  ``gamma ** (len(milestones) + 1)`` after the last milestone (the official
  code skips ``gamma ** len(milestones)``; reproduced);
- ``decay='linear'``: ``g / W`` while ``g < W``, then ``max(0, (total - g)
  / (total - W))``;

and a value ``<= 0`` becomes the official floor ``1e-8`` (an absolute lr;
the official code floors before a group's lr multiplier, which every
official config leaves at 1).
All official configs give the transformer, cnn and align groups the same
decay and milestones, so one factor scales every group's own lr.

MMEngine counts iterations, not updates: with ``accumulative_counts = a``
the update of iteration ``i`` (0-based) is ``g = i // a + 1``, and the
scheduler sets that lr after iteration ``i - 1`` (on ``last_step = i``).
Built from an epoch-based config (``convert_to_iter_based=True``), the
Runner passes the iterations per epoch ``L = len(train_dataloader)``;
updates per epoch are ``L / a`` and ``total = ceil(max_epochs * L / a)``
(what MMEngine's loop and accumulation run). The official scripts use
``N / (GPUs x batch x a)`` updates per epoch (``N`` examples; the
retrieval script its ``ceil``) and stop after ``ceil(epochs x N / (GPUs x
batch x a))`` updates. Both agree whenever the global batch divides ``N``;
otherwise the epoch count still agrees for retrieval (``a = 1`` and ``L =
ceil(N / (GPUs x batch))``), but each of our epochs ends with a partial
batch that the official count folds into the next, so the run (and the
``total`` the warm-up and linear decay are relative to) has up to one
update per epoch more.

MMEngine's ``LinearLR`` + ``MultiStepLR`` cannot start the warm-up at
``lr / W`` exactly, count epochs by updates or jump to ``gamma ** (k + 1)``;
this scheduler sets the value outright from the step count, so it is meant
to be the only learning-rate scheduler of a config.
"""
import math
from typing import Sequence

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from vtg_plugins.registry import PARAM_SCHEDULERS

DECAYS = ('multi_step', 'linear')
#: the official lower bound of a scheduled lr
LR_FLOOR = 1e-8


def warmup_decay_factor(update: int, total: int, warmup: int, epoch: int,
                        decay: str, milestones: Sequence[int],
                        gamma: float) -> float:
    """The official factor (module doc) at update ``update`` (from 1) of
    ``total``, ``warmup`` warm-up updates, in epoch ``epoch``; may be
    ``<= 0`` (the floor is the caller's)."""
    if decay == 'multi_step':
        if update <= warmup:
            return update / warmup
        for i, milestone in enumerate(sorted(milestones)):
            if epoch < milestone:
                return gamma**i
        return gamma**(len(milestones) + 1)
    if update < warmup:
        return update / warmup
    return max(0.0, (total - update) / (total - warmup))


class WarmupDecayParamScheduler(_ParamScheduler):
    """The schedule of the module doc for any parameter (``param_name``).

    Args:
        optimizer: the (wrapped) optimizer.
        param_name (str): the parameter the schedule sets.
        decay (str): ``'multi_step'`` or ``'linear'`` (official ``decay``).
        total_updates (int): optimizer updates of the run (official
            ``num_train_steps``).
        epoch_length (int): iterations per epoch (``len(train_dataloader)``).
        warmup_ratio (float): warm-up share of ``total_updates`` (official
            default 0.1).
        milestones (Sequence[int]): epochs of the ``multi_step`` decay
            (official ``step_decay_epochs``).
        gamma (float): decay per milestone (official 0.5).
        accumulative_counts (int): iterations per update (official
            ``gradient_accumulation_steps``); must equal the optimizer
            wrapper's.
        floor (float): the value of a factor ``<= 0`` (official ``1e-8``).
        begin, end, last_step, by_epoch, verbose: as MMEngine's schedulers
            (iteration-based: ``by_epoch=False``).
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 decay: str,
                 total_updates: int,
                 epoch_length: int,
                 warmup_ratio: float = 0.1,
                 milestones: Sequence[int] = (),
                 gamma: float = 0.5,
                 accumulative_counts: int = 1,
                 floor: float = LR_FLOOR,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        name = type(self).__name__
        if decay not in DECAYS:
            raise ValueError(f'{name}: decay must be one of {DECAYS}, got '
                             f'{decay!r}')
        if decay == 'linear' and milestones:
            raise ValueError(f'{name}: milestones {list(milestones)} are '
                             "only read by decay='multi_step'")
        if by_epoch:
            raise ValueError(f'{name} counts updates: set by_epoch=False, or '
                             'convert_to_iter_based=True in an epoch-based '
                             'config')
        for key, value in (('total_updates', total_updates), ('epoch_length',
                                                              epoch_length),
                           ('accumulative_counts', accumulative_counts)):
            if int(value) != value or value < 1:
                raise ValueError(f'{name}: {key} must be a positive integer'
                                 f', got {value}')
        if not 0 <= warmup_ratio < 1:
            raise ValueError(f'{name}: warmup_ratio must be in [0, 1), got '
                             f'{warmup_ratio}')
        wrapped = getattr(optimizer, '_accumulative_counts', None)
        if wrapped is not None and wrapped != accumulative_counts:
            raise ValueError(
                f'{name}: accumulative_counts={accumulative_counts} but the '
                f'optimizer wrapper accumulates {wrapped} iterations')
        self.decay = decay
        self.total_updates = int(total_updates)
        self.epoch_length = int(epoch_length)
        self.warmup_updates = int(warmup_ratio * total_updates)
        self.milestones = tuple(sorted(milestones))
        self.gamma = gamma
        self.accumulative_counts = int(accumulative_counts)
        self.floor = floor
        super().__init__(
            optimizer,
            param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              begin: int = 0,
                              end: int = INF,
                              by_epoch: bool = True,
                              epoch_length: int = None,
                              accumulative_counts: int = 1,
                              **kwargs):
        """From an epoch-based config: ``end`` (the Runner's default:
        ``max_epochs``) and ``epoch_length`` give ``total_updates``."""
        if not by_epoch or epoch_length is None or end == INF:
            raise ValueError(
                f'{cls.__name__}: convert_to_iter_based needs by_epoch=True '
                'and the Runner to set end (max_epochs) and epoch_length')
        if begin != 0:
            raise ValueError(f'{cls.__name__} starts with the run: begin '
                             f'must be 0, got {begin}')
        iters = int(end * epoch_length)
        return cls(
            *args,
            total_updates=math.ceil(iters / accumulative_counts),
            epoch_length=epoch_length,
            accumulative_counts=accumulative_counts,
            begin=0,
            end=iters,
            by_epoch=False,
            **kwargs)

    def update_at(self, step: int) -> int:
        """The update (from 1) that iteration ``step`` (from 0) makes."""
        return step // self.accumulative_counts + 1

    def epoch_of(self, update: int) -> int:
        """The official epoch count at update ``update``:
        ``int(update / (epoch_length / accumulative_counts))``."""
        return update * self.accumulative_counts // self.epoch_length

    def value_at(self, base: float, step: int) -> float:
        """The value during iteration ``step`` for base value ``base``."""
        update = self.update_at(step)
        factor = warmup_decay_factor(update,
                                     self.total_updates, self.warmup_updates,
                                     self.epoch_of(update), self.decay,
                                     self.milestones, self.gamma)
        return base * factor if factor > 0 else self.floor

    def _get_value(self):
        return [
            self.value_at(base, self.last_step) for base in self.base_values
        ]


@PARAM_SCHEDULERS.register_module()
class HDVILAWarmupDecayLR(LRSchedulerMixin, WarmupDecayParamScheduler):
    """:class:`WarmupDecayParamScheduler` of the learning rate (official
    ``decay``, ``warmup_ratio``, ``step_decay_epochs`` = ``milestones``,
    ``gradient_accumulation_steps`` = ``accumulative_counts``)."""
