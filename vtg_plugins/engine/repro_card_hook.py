"""The reproducibility card (:mod:`vtg_plugins.utils.repro_card`) of a run:
printed and stored when training starts, saved with every checkpoint, and
read back from the checkpoint a test loads."""
import logging
import os.path as osp
from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log

from vtg_plugins.registry import HOOKS
from vtg_plugins.utils.io import atomic_write_json
from vtg_plugins.utils.repro_card import (CARD_FILE, CARD_KEY, build_card,
                                          card_of_checkpoint, compare_recipes,
                                          format_card)


@HOOKS.register_module()
class ReproducibilityCardHook(Hook):
    """Build the run's card when training starts (every rank: under
    FlexibleRunner every rank takes part in saving); rank 0 logs it and
    writes ``{work_dir}/repro_card.json`` atomically. Every checkpoint
    saved then holds it in ``meta['repro_card']`` (``Runner`` and
    ``FlexibleRunner``: DDP, DeepSpeed through the checkpoint callback of
    :mod:`vtg_plugins.compat.mmengine`, FSDP).

    A resumed run writes its own card (its world size, date, code) over the
    work dir's; the checkpoints it saves carry that one.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.card: Optional[dict] = None

    def before_train(self, runner) -> None:
        self.card = build_card(runner)
        if get_rank() != 0:
            return
        print_log(format_card(self.card), logger='current')
        for warning in self.card['warnings']:
            print_log(
                f'reproducibility card: {warning}',
                logger='current',
                level=logging.WARNING)
        atomic_write_json(osp.join(runner.work_dir, CARD_FILE), self.card)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.card is None:  # saved before training started
            self.card = build_card(runner)
        checkpoint.setdefault('meta', {})[CARD_KEY] = self.card


@HOOKS.register_module()
class CheckpointCardHook(Hook):
    """On the checkpoint a run loads (``load_from``: what ``tools/test.py``
    tests), log its card on rank 0, or that it has none, and warn for each
    difference between the card's feature recipes and those the config's
    ``split`` datasets state (:func:`~vtg_plugins.utils.repro_card.
    compare_recipes`). Reads the checkpoint the runner loads anyway."""

    priority = 'LOW'

    def __init__(self, split: str = 'test') -> None:
        self.split = split

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if get_rank() != 0 or getattr(runner, '_resume', False):
            return
        card = card_of_checkpoint(checkpoint.get('meta') or {})
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        if card is None:
            print_log(
                f'{source} has no reproducibility card (saved without '
                'ReproducibilityCardHook, e.g. a converted official '
                'checkpoint): nothing to check the test config against',
                logger='current')
            return
        if card.get('partial'):
            print_log(
                f'{source} has no reproducibility card, only the feature '
                "recipe of meta['feature_recipe']",
                logger='current')
        else:
            print_log(f'{source}:\n{format_card(card)}', logger='current')
        for diff in compare_recipes(card, runner.cfg, self.split):
            print_log(
                f'feature recipe differs from the checkpoint\'s: {diff}',
                logger='current',
                level=logging.WARNING)
