"""Linear warm-up then polynomial decay, in closed form, per update.

fairseq's ``polynomial_decay`` scheduler (used by MMPT-based methods such as
TempCLR): after ``n`` updates the learning rate is

- ``lr * n / warmup_updates`` while ``n <= warmup_updates`` (the first
  update, ``n = 0``, uses ``lr / warmup_updates``, as fairseq's
  initialisation sets);
- ``(lr - end_lr) * (1 - (n - warmup_updates) / (total_updates -
  warmup_updates)) ** power + end_lr`` until ``total_updates``, then
  ``end_lr``.

MMEngine's ``LinearLR`` + ``PolyLR`` pair comes close but not exactly: the
chainable ``LinearLR`` cannot start from 0 and reaches ``lr`` one update
early. This scheduler sets the value outright from the step count, so it is
meant to be the only learning-rate scheduler of a config.
"""
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

from vtg_plugins.registry import PARAM_SCHEDULERS


class PolyDecayWithWarmupParamScheduler(_ParamScheduler):
    """The schedule of the module doc for any parameter (``param_name``).

    Args:
        optimizer: the (wrapped) optimizer.
        param_name (str): the parameter the schedule sets.
        warmup_updates (int): updates of the linear warm-up (>= 0).
        total_updates (int): update at which the decay reaches ``end_value``
            (> ``warmup_updates``).
        power (float): decay exponent. Default 1.0.
        end_value (float): value after the decay. Default 0.0.
        begin, end, last_step, by_epoch, verbose: as MMEngine's schedulers;
            the schedule counts updates from ``begin``.
    """

    def __init__(self,
                 optimizer,
                 param_name: str,
                 warmup_updates: int,
                 total_updates: int,
                 power: float = 1.0,
                 end_value: float = 0.0,
                 begin: int = 0,
                 end: int = int(1e9),
                 last_step: int = -1,
                 by_epoch: bool = False,
                 verbose: bool = False):
        if warmup_updates < 0:
            raise ValueError(f'{type(self).__name__}: warmup_updates must be '
                             f'>= 0, got {warmup_updates}')
        if total_updates <= warmup_updates:
            raise ValueError(
                f'{type(self).__name__}: total_updates ({total_updates}) '
                f'must exceed warmup_updates ({warmup_updates})')
        if power <= 0:
            raise ValueError(f'{type(self).__name__}: power must be > 0, '
                             f'got {power}')
        self.warmup_updates = warmup_updates
        self.total_updates = total_updates
        self.power = power
        self.end_value = end_value
        super().__init__(
            optimizer,
            param_name,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def value_at(self, base: float, updates: int) -> float:
        """The value after ``updates`` updates for base value ``base``."""
        warmup = self.warmup_updates
        if warmup > 0 and updates <= warmup:
            return base * max(updates, 1) / warmup
        if updates >= self.total_updates:
            return self.end_value
        remaining = 1 - (updates - warmup) / (self.total_updates - warmup)
        return (base - self.end_value) * remaining**self.power + \
            self.end_value

    def _get_value(self):
        return [
            self.value_at(base, self.last_step) for base in self.base_values
        ]


@PARAM_SCHEDULERS.register_module()
class PolyDecayWithWarmupLR(LRSchedulerMixin,
                            PolyDecayWithWarmupParamScheduler):
    """:class:`PolyDecayWithWarmupParamScheduler` of the learning rate
    (fairseq ``polynomial_decay``: ``warmup_updates``,
    ``total_num_update`` = ``total_updates``, ``power``,
    ``end_learning_rate`` = ``end_value``)."""
