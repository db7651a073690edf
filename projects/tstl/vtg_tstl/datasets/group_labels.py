"""Relabel or filter a recognition dataset for one of TSTL's two stages.

The official selector wraps the dataset in ``HeadLabelWrapper`` (each label
-> its group's id through ``class_to_head``); the official experts read an
annotation file holding only their group's videos (``train_experts.py``
builds the same dataset as ``train_selector.py``, pointed at per-group CSVs
such as ``group1.csv``) with their global labels, and every expert predicts
all ``nb_classes`` classes. :class:`GroupLabelDataset` does both from the
one full annotation file.
"""
import copy
import os
from typing import Any, List, Optional, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from vtg_plugins.registry import DATASETS
from ..grouping import ClassGrouping, is_integer, load_class_grouping

ROLES = ('selector', 'expert')


@DATASETS.register_module()
class GroupLabelDataset:
    """A dataset for TSTL's selector (group labels) or one expert (only its
    group's clips, global labels).

    Args:
        dataset: the wrapped dataset or its config (e.g. ``VideoDataset`` or
            ``TSTLVideoDataset``); its data infos must hold an integer
            ``label``.
        grouping: TSTL's ``class_grouping.json`` (or a loaded
            :class:`ClassGrouping`).
        role: ``'selector'``: every clip, ``label`` -> group id;
            ``'expert'``: only the clips of ``group``'s classes, labels
            unchanged.
        group: the expert's group id (``role='expert'`` only).
        num_classes: when given, the grouping must map exactly
            ``range(num_classes)``.
        lazy_init: defer reading the annotations until :meth:`full_init`
            (the Runner calls it), as MMEngine's dataset wrappers do.

    Every record's class must be in the grouping: a record with a class the
    grouping lacks is an error naming the annotation file, the record and
    its video, and the line when the data info has ``line`` (as
    ``TSTLVideoDataset``'s do; the official wrapper sends it to group 0).
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 grouping: Union[str, os.PathLike, ClassGrouping],
                 role: str = 'selector',
                 group: Optional[int] = None,
                 num_classes: Optional[int] = None,
                 lazy_init: bool = False) -> None:
        if role not in ROLES:
            raise ValueError(f'GroupLabelDataset: role must be one of {ROLES},'
                             f' got {role!r}')
        self.grouping = grouping if isinstance(
            grouping, ClassGrouping) else load_class_grouping(
                grouping, num_classes)
        if num_classes is not None and \
                self.grouping.num_classes != num_classes:
            raise ValueError(
                f'{self.grouping.source}: maps {self.grouping.num_classes} '
                f'classes, {num_classes} expected')
        if role == 'expert':
            if group is None:
                raise ValueError("GroupLabelDataset: role='expert' needs "
                                 '`group`')
            self.classes = frozenset(self.grouping.classes_of(group))
        elif group is not None:
            raise ValueError("GroupLabelDataset: `group` is for role='expert'"
                             f' only (got group={group} with role={role!r})')
        self.role = role
        self.group = group
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self._metainfo = dict(
            copy.deepcopy(getattr(self.dataset, 'metainfo', {})),
            tstl_role=role,
            tstl_group=group,
            num_groups=self.grouping.num_groups)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's metainfo plus ``tstl_role``,
        ``tstl_group`` and ``num_groups``."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Read the wrapped dataset's labels, check each against the
        grouping, and keep (expert) or relabel (selector) its records."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        keep: List[int] = []
        labels: List[int] = []
        for idx in range(len(self.dataset)):
            label, group = self._checked_label(idx)
            if self.role == 'selector':
                keep.append(idx)
                labels.append(group)
            elif label in self.classes:
                keep.append(idx)
                labels.append(label)
        if not keep:
            what = 'no record' if self.role == 'selector' else (
                f'no record of group {self.group} (classes '
                f'{sorted(self.classes)}) for the expert')
            raise ValueError(f'{self._where()}: {what}')
        self._indices = np.asarray(keep, dtype=np.int64)
        self._labels = np.asarray(labels, dtype=np.int64)
        self._fully_initialized = True

    def _where(self) -> str:
        ann = getattr(self.dataset, 'ann_file', None)
        return ann if ann else type(self.dataset).__name__

    def _checked_label(self, idx: int) -> Tuple[int, int]:
        """The class and group of wrapped record ``idx``; an error naming the
        annotation file, the record and its video when it is not an integer
        or not in the grouping."""
        info = self.dataset.get_data_info(idx)
        label = info.get('label')
        where = info.get('ann_file') or self._where()
        where += f" line {info['line']}" if 'line' in info else \
            f': record {idx}'
        if 'filename' in info:
            where += f" (video {info['filename']})"
        if not is_integer(label):
            raise ValueError(f'{where}: label {label!r} is not one integer '
                             'class id (TSTL groups single-label datasets)')
        try:
            return int(label), self.grouping.group_of(label)
        except ValueError as e:
            raise ValueError(f'{where}: {e}') from None

    @force_full_init
    def __len__(self) -> int:
        return len(self._indices)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The wrapped record with ``label`` replaced by the group id
        (selector) or unchanged (expert); no video is decoded."""
        info = self.dataset.get_data_info(int(self._indices[idx]))
        info['label'] = int(self._labels[idx])
        return info

    @force_full_init
    def __getitem__(self, idx: int) -> Any:
        """The wrapped dataset's pipeline on :meth:`get_data_info`.

        The label is replaced before the pipeline, so ``PackActionInputs``
        packs the group id as ``gt_label``. The wrapped dataset's own
        ``prepare_data`` is not called (its pipeline is), so a dataset that
        overrides it (``RepeatAugDataset``) is not supported.
        """
        data = self.dataset.pipeline(self.get_data_info(idx))
        if data is None:
            raise ValueError(
                f'{self._where()}: record {int(self._indices[idx])}: the '
                'pipeline returned None')
        return data
