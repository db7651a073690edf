"""Config file names against the values they announce.

OpenMMLab names a config ``{method}_{backbone}_{gpus}xb{batch}-{schedule}
_{dataset}.py``: ``8xb16`` is 8 GPUs x 16 samples per GPU and the schedule
``30e`` 30 epochs or ``20k`` 20 000 iterations (``r2_tuning_clip-b32_1xb128-
30e_qvhighlights.py``). :func:`check_config_name` compares the name with
``train_dataloader.batch_size``, the train loop's ``max_epochs`` /
``max_iters`` and, when the config has one, ``auto_scale_lr.
base_batch_size`` (the total batch, gpus x batch, its learning rate is for:
``--auto-scale-lr`` scales the lr by the real total batch over it).
"""
import os.path as osp
import re
from dataclasses import dataclass
from typing import List, Optional

_GPUS_BATCH = re.compile(r'^(\d+)xb(\d+)$')
_EPOCHS = re.compile(r'^(\d+)e$')
_KITERS = re.compile(r'^(\d+)k$')


@dataclass
class NameFields:
    """What a config name states; None where it states nothing."""
    gpus: int
    batch: int
    epochs: Optional[int] = None
    iters: Optional[int] = None


def parse_config_name(path: str) -> Optional[NameFields]:
    """The ``{gpus}xb{batch}-{schedule}`` field of a config name, or None
    when the name has none."""
    stem = osp.splitext(osp.basename(path))[0]
    for part in stem.split('_'):
        head, *schedule = part.split('-')
        match = _GPUS_BATCH.match(head)
        if not match:
            continue
        fields = NameFields(int(match.group(1)), int(match.group(2)))
        for token in schedule:
            if _EPOCHS.match(token):
                fields.epochs = int(token[:-1])
            elif _KITERS.match(token):
                fields.iters = int(token[:-1]) * 1000
        return fields
    return None


def _loop_length(train_cfg: dict):
    """``('epochs' | 'iters', value)`` the train loop runs, or None (the
    lint makes sure an epoch loop has ``max_epochs``, an iteration loop
    ``max_iters``)."""
    for key, unit in (('max_epochs', 'epochs'), ('max_iters', 'iters')):
        if key in train_cfg:
            return unit, train_cfg[key]
    return None


def check_config_name(cfg: dict, path: str) -> List[str]:
    """What the name of config ``path`` states that ``cfg`` contradicts
    (empty: nothing, or a name without the ``{gpus}xb{batch}`` field)."""
    fields = parse_config_name(path)
    if fields is None:
        return []
    problems = []
    name = osp.basename(path)
    loader = cfg.get('train_dataloader') or {}
    batch = loader.get('batch_size')
    if batch is not None and batch != fields.batch:
        problems.append(f'{name} states {fields.gpus}xb{fields.batch} but '
                        f'train_dataloader.batch_size is {batch}')
    length = _loop_length(cfg.get('train_cfg') or {})
    stated = ('epochs', fields.epochs) if fields.epochs is not None else \
        ('iters', fields.iters) if fields.iters is not None else None
    if stated is not None and length is not None and stated != length:
        problems.append(f'{name} states {stated[1]} {stated[0]} but the '
                        f'train loop (train_cfg) runs {length[1]} '
                        f'{length[0]}')
    scale = cfg.get('auto_scale_lr') or {}
    base = scale.get('base_batch_size')
    total = fields.gpus * fields.batch
    if base is not None and base != total:
        problems.append(
            f'{name} states {fields.gpus}xb{fields.batch} (total batch '
            f'{total}) but auto_scale_lr.base_batch_size is {base}: '
            '--auto-scale-lr would scale the lr by the wrong ratio')
    return problems
