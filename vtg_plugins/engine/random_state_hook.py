"""Random number generators saved with checkpoints, restored on resume.

MMEngine seeds the generators once when a run starts, so a run resumed from
epoch ``k`` draws other dropout masks, augmentations and mixup pairs than
the uninterrupted run did after epoch ``k``. With this hook each checkpoint
holds every rank's generator states (Python ``random``, NumPy, torch on the
CPU and on each CUDA device), and resuming puts them back, so the resumed
run repeats the uninterrupted one exactly on the same world size.
Saving and validation run between the epoch's end and the next epoch, and
may draw from the generators (data loader seeds; FSDP's state-dict
gathering), so training goes on from the states the checkpoint holds, and
each validation puts back the states it found: validating no longer changes
what training draws (``--no-validate`` trains the same weights).
"""
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from vtg_plugins.registry import HOOKS

KEY = 'random_states'
SAMPLER_KEY = 'train_sampler_seed'


def capture_random_states() -> dict:
    """The generator states of this process."""
    states = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict) -> None:
    """Put back what :func:`capture_random_states` returned."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every rank's generator states in checkpoints (``random_states``,
    a list indexed by rank) with the train sampler's shuffling seed
    (``train_sampler_seed``; drawn per run when the config sets no seed);
    restore this rank's on resume and after each validation (see the
    module doc).

    A checkpoint from another world size, or one saved without the hook,
    resumes with the seeded generators, as MMEngine does, and says so.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._before_val: Optional[dict] = None
        self._gathered: Optional[List[dict]] = None
        self._resumed: Optional[dict] = None
        self._continue_from: Optional[dict] = None

    # Runner.save_checkpoint runs on rank 0 only: the states of all ranks
    # are gathered beforehand, where every rank passes and the checkpoint
    # hook (priority VERY_LOW, after this one) is about to save
    def _gather(self) -> None:
        own = capture_random_states()
        self._gathered = all_gather_object(own)
        # what runs until training goes on (saving, validation: FSDP's
        # state-dict gathering, loader seeds) must not change its draws: a
        # resumed run starts from exactly the saved states
        self._continue_from = own

    def _continue(self) -> None:
        if self._continue_from is not None:
            restore_random_states(self._continue_from)
            self._continue_from = None

    def before_train_epoch(self, runner) -> None:
        self._continue()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._continue()

    def _checkpoint_hook(self, runner):
        return next((h for h in runner.hooks if isinstance(h, CheckpointHook)),
                    None)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        hook = self._checkpoint_hook(runner)
        if hook is None or hook.by_epoch:
            return
        if hook.every_n_train_iters(runner, hook.interval,
                                    hook.save_begin) or \
                runner.iter + 1 == runner.max_iters:
            self._gather()

    def after_train_epoch(self, runner) -> None:
        hook = self._checkpoint_hook(runner)
        if hook is not None and hook.by_epoch:
            self._gather()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[KEY] = self._gathered or [capture_random_states()]
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if hasattr(sampler, 'seed'):
            checkpoint[SAMPLER_KEY] = sampler.seed

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # loading weights (load_from) keeps this run's seeding
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if SAMPLER_KEY in checkpoint and hasattr(sampler, 'seed'):
            # without a configured seed each run draws its shuffling seed
            sampler.seed = checkpoint[SAMPLER_KEY]
        states = checkpoint.get(KEY)
        if not states or len(states) != get_world_size():
            print_log(
                f'RandomStateHook: the checkpoint holds '
                f'{len(states or [])} ranks\' generator states, this run '
                f'has {get_world_size()}; resuming with the seeded '
                f'generators',
                logger='current')
            return
        # applied when training starts: the runner reseeds after loading
        # (when the checkpoint's seed differs from this run's)
        self._resumed = states[get_rank()]

    def before_train(self, runner) -> None:
        if self._resumed is not None:
            restore_random_states(self._resumed)
            self._resumed = None

    def before_val_epoch(self, runner) -> None:
        self._before_val = capture_random_states()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._before_val is not None:
            restore_random_states(self._before_val)
            self._before_val = None
