"""vtg_plugins.engine.random_state_hook on a stand-in runner: what it
saves, what it restores and when (the 2-process runs of every method are
in tests/scale_out)."""
import random
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.hooks import CheckpointHook

from vtg_plugins.engine.random_state_hook import (RandomStateHook,
                                                  capture_random_states,
                                                  restore_random_states)


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def _runner(resume=True, seed=7):
    sampler = SimpleNamespace(seed=seed)
    return SimpleNamespace(
        _resume=resume,
        hooks=[CheckpointHook()],
        train_dataloader=SimpleNamespace(sampler=sampler))


def test_capture_and_restore_round_trip():
    states = capture_random_states()
    first = _draws()
    restore_random_states(states)
    assert _draws() == first


def test_checkpoint_holds_the_states_of_the_epoch_end_and_resume_restores():
    hook, runner = RandomStateHook(), _runner(seed=123)
    hook.after_train_epoch(runner)  # gathered where every rank passes
    expected = _draws()
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    assert len(checkpoint['random_states']) == 1  # one rank
    assert checkpoint['train_sampler_seed'] == 123

    resumed, later = RandomStateHook(), _runner(seed=999)
    resumed.after_load_checkpoint(later, checkpoint)
    assert later.train_dataloader.sampler.seed == 123
    _draws()  # the runner reseeds after loading: not yet applied
    resumed.before_train(later)
    assert _draws() == expected


def test_loading_weights_only_keeps_this_runs_generators():
    hook, runner = RandomStateHook(), _runner()
    hook.after_train_epoch(runner)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    fresh = RandomStateHook()
    target = _runner(resume=False, seed=5)
    fresh.after_load_checkpoint(target, checkpoint)
    fresh.before_train(target)
    assert target.train_dataloader.sampler.seed == 5
    state = capture_random_states()
    assert torch.equal(state['torch'], torch.get_rng_state())


def test_other_world_size_resumes_seeded(capsys):
    hook, runner = RandomStateHook(), _runner()
    checkpoint = dict(random_states=[capture_random_states()] * 2)
    hook.after_load_checkpoint(runner, checkpoint)
    before = _draws()
    hook.before_train(runner)  # nothing to restore
    assert _draws() != before


def test_validation_does_not_move_the_training_generators():
    hook, runner = RandomStateHook(), _runner()
    hook.before_val_epoch(runner)
    expected = _draws()
    restore_random_states(hook._before_val)  # the same point again
    hook.before_val_epoch(runner)
    _draws(), _draws()  # validation draws (loader seeds, ...)
    hook.after_val_epoch(runner)
    assert _draws() == expected


def test_training_goes_on_from_the_saved_states():
    hook, runner = RandomStateHook(), _runner()
    hook.after_train_epoch(runner)  # the states the checkpoint will hold
    expected = _draws()
    restore_random_states(hook._gathered[0])
    _draws()  # saving the checkpoint, validating ... draw
    hook.before_train_epoch(runner)
    assert _draws() == expected
    hook.before_train_epoch(runner)  # once only: the epoch draws on
    assert _draws() != expected
