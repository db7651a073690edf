"""CrossTask step localization data as TempCLR (MMPT) reads it.

Besides the task and video lists (:mod:`.crosstask_split`), the release has
``annotations/{task}_{video}.csv``: ``step,start,end`` lines (step in
``1..K``, seconds) in temporal order, and MMPT's features are
``{vfeat_dir}/{video}.npy`` ``[T, 512]``, one per second. As MMPT's
``CrossTaskAligner``, a video becomes sliding windows of
``sliding_window_size`` rows every ``sliding_window`` rows (the last window
ends at the video's end), the task's steps become caption rows, and the
annotation becomes the ``[T, K]`` 0/1 matrix with rows
``floor(start) .. ceil(end) - 1`` of column ``step - 1`` set.
"""
import logging
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from vtg_plugins.registry import DATASETS
from .crosstask_split import (SPLITS, VideoEntry, group_by_task,
                              read_task_info, read_video_list,
                              split_crosstask_videos)
from .downstream import (CaptionEncoder, PathLike, VideoFeatures,
                         require_file, resolve_path)
from .packing import PackTempCLRInputs, build_video_rows

StepSpan = Tuple[int, float, float]  # (0-based step, start_s, end_s)
MISSING_POLICIES = ('error', 'skip')


def read_step_annotation(path: PathLike, n_steps: int) -> List[StepSpan]:
    """``(step - 1, start, end)`` of each line of an annotation CSV.

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: naming the file and line when a line is not
            ``step,start,end``, the step is outside ``1..n_steps``, or the
            times are not finite with ``0 <= start <= end``.
    """
    path = require_file(path, 'CrossTask annotation')
    spans = []
    for num, text in enumerate(
            path.read_text(encoding='utf-8').splitlines(), 1):
        if not text.strip():
            continue
        where = f'CrossTask annotation {path}: line {num}'
        fields = text.strip().split(',')
        malformed = ValueError(f'{where} is not "step,start,end": {text!r}')
        if len(fields) != 3:
            raise malformed
        try:
            step, start, end = (int(fields[0]), float(fields[1]),
                                float(fields[2]))
        except ValueError:
            raise malformed from None
        if not 1 <= step <= n_steps:
            raise ValueError(f'{where}: step {step} is outside 1..{n_steps} '
                             'of its task')
        if not (math.isfinite(start) and math.isfinite(end)) or \
                not 0 <= start <= end:
            raise ValueError(f'{where}: span [{start}, {end}] is not finite '
                             'with 0 <= start <= end')
        spans.append((step - 1, start, end))
    if not spans:
        raise ValueError(f'CrossTask annotation {path} holds no step')
    return spans


def step_assignment(spans: Sequence[StepSpan], num_frames: int, n_steps: int,
                    where: str, max_overrun: float = 2.0) -> np.ndarray:
    """The ``[T, K]`` uint8 ground truth of the official ``_read_assignment``.

    Rows ``floor(start) .. ceil(end) - 1`` of column ``step`` are 1; rows
    past ``T`` are cut, as the official slicing does, but a span starting
    at or after ``T`` (it would vanish) or ending more than ``max_overrun``
    rows after ``T`` is refused as a sign of a wrong feature file.
    """
    assignment = np.zeros((num_frames, n_steps), dtype=np.uint8)
    for row, (step, start, end) in enumerate(spans, 1):
        first, stop = int(math.floor(start)), int(math.ceil(end))
        if first >= num_frames or stop - num_frames > max_overrun:
            raise ValueError(
                f'{where}: annotation step {step + 1} [{start}, {end}] (row '
                f'{row}) is past the end of the video\'s {num_frames} '
                f'feature rows (max_overrun={max_overrun})')
        assignment[first:stop, step] = 1
    return assignment


def sliding_windows(num_frames: int, stride: int,
                    size: int) -> List[Tuple[int, int]]:
    """``(start, length)`` of the official aligner's windows: one every
    ``stride`` rows of ``size`` rows (fewer at the end), stopping at the
    first window that reaches the last row."""
    windows = []
    for start in range(0, num_frames, stride):
        windows.append((start, min(num_frames - start, size)))
        if num_frames - start <= size:
            break
    return windows


@DATASETS.register_module()
class CrossTaskDataset(BaseDataset):
    """CrossTask: one item per video of the official split.

    An item has ``W`` video rows (the sliding windows, ``vfeats [W, Lv,
    D]``) and ``K`` caption rows (the task's steps); its data sample holds
    ``task``, ``vid``, ``video_len`` T, ``window_starts [W]``,
    ``window_lengths [W]`` (rows of the video in each window), ``targets
    [T, K]`` float and ``gt_assignment [T, K]`` uint8 (the annotation),
    ``step_sequence [S]`` long (0-based steps in annotation order) and
    ``sample_idx``.

    Args:
        vocab_file: local BERT ``vocab.txt``.
        split (str): ``'train'``, ``'valid'`` or ``'test'`` (valid = test,
            as MMPT).
        primary_path, related_path, train_csv_path, val_csv_path,
            annotation_path, vfeat_dir: the release files, relative to
            ``data_root`` when relative.
        n_train (int): training videos per primary task (30).
        seed (int): seed of the split's draws (0).
        sliding_window (int): window stride (16).
        sliding_window_size (int): window size (32), at most
            ``max_video_len``.
        max_len (int): MMPT's ``max_len`` (96).
        max_video_len (int): MMPT's ``max_video_len`` (32).
        missing (str): a listed video without a feature file or annotation
            CSV, or of a task neither task file has: ``'error'`` (default)
            raises naming it; ``'skip'`` drops it, as the official code
            does, and logs how many.
        max_overrun (float): rows an annotation may end past the features.
        pipeline (list, optional): transforms; default
            ``[PackTempCLRInputs(meta_keys=self.meta_keys)]``.
        **kwargs: :class:`BaseDataset` arguments (``data_root``, ...).
    """
    meta_keys = ('task', 'vid', 'video_len', 'window_starts',
                 'window_lengths', 'targets', 'gt_assignment',
                 'step_sequence', 'sample_idx')

    def __init__(self,
                 vocab_file: PathLike,
                 split: str = 'test',
                 primary_path: PathLike = 'tasks_primary.txt',
                 related_path: PathLike = 'tasks_related.txt',
                 train_csv_path: PathLike = 'videos.csv',
                 val_csv_path: PathLike = 'videos_val.csv',
                 annotation_path: PathLike = 'annotations',
                 vfeat_dir: PathLike = 'features',
                 n_train: int = 30,
                 seed: int = 0,
                 sliding_window: int = 16,
                 sliding_window_size: int = 32,
                 max_len: int = 96,
                 max_video_len: int = 32,
                 missing: str = 'error',
                 max_overrun: float = 2.0,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'CrossTaskDataset: split must be one of '
                             f'{SPLITS}, got {split!r}')
        if missing not in MISSING_POLICIES:
            raise ValueError(f'CrossTaskDataset: missing must be one of '
                             f'{MISSING_POLICIES}, got {missing!r}')
        if not 1 <= sliding_window_size <= max_video_len or \
                sliding_window < 1:
            raise ValueError(
                f'CrossTaskDataset: need sliding_window >= 1 and 1 <= '
                f'sliding_window_size <= max_video_len, got '
                f'{sliding_window}, {sliding_window_size}, {max_video_len}')
        root = kwargs.get('data_root')
        self.paths = {
            name: resolve_path(value, root)
            for name, value in dict(
                primary=primary_path,
                related=related_path,
                train_csv=train_csv_path,
                val_csv=val_csv_path,
                annotations=annotation_path).items()
        }
        self.features = VideoFeatures(resolve_path(vfeat_dir, root))
        self.captions = CaptionEncoder(vocab_file, max_len, max_video_len)
        self.split, self.n_train, self.seed = split, n_train, seed
        self.window_stride = sliding_window
        self.window_size = sliding_window_size
        self.max_video_len = max_video_len
        self.missing, self.max_overrun = missing, max_overrun
        if pipeline is None:
            pipeline = [PackTempCLRInputs(meta_keys=self.meta_keys)]
        super().__init__(pipeline=list(pipeline), **kwargs)

    def annotation_file(self, task: str, vid: str) -> Path:
        """The annotation CSV of ``vid`` in ``task``."""
        return self.paths['annotations'] / f'{task}_{vid}.csv'

    def _problem(self, entry: VideoEntry, known_tasks: set) -> Optional[str]:
        if entry.task not in known_tasks:
            return (f'its task {entry.task!r} is in neither '
                    f"{self.paths['primary']} nor {self.paths['related']}")
        if entry.vid not in self.features:
            return (f'it has no feature file '
                    f'{self.features.expected_file(entry.vid)}')
        annotation = self.annotation_file(entry.task, entry.vid)
        if not annotation.is_file():
            return f'it has no annotation file {annotation}'
        return None

    def _available(self, csv_key: str, known_tasks: set) -> Dict[str, list]:
        """Videos of a list that have features and annotations."""
        path = self.paths[csv_key]
        entries = read_video_list(path)
        kept, skipped = [], 0
        for entry in entries:
            problem = self._problem(entry, known_tasks)
            if problem is None:
                kept.append(entry)
            elif self.missing == 'error':
                raise ValueError(
                    f'{path}: line {entry.line}: CrossTask video '
                    f'{entry.vid!r} of task {entry.task!r}: {problem} (pass '
                    "missing='skip' to drop such videos, as the official "
                    'code does)')
            else:
                skipped += 1
        if skipped:
            print_log(
                f'CrossTaskDataset: skipped {skipped} of the {len(entries)} '
                f'videos of {path}: no feature file, no annotation file or '
                "no known task (missing='skip', as the official code)",
                logger='current',
                level=logging.WARNING)
        return group_by_task(kept)

    def load_data_list(self) -> List[dict]:
        """Data infos of the split's videos, in the official order."""
        primary = read_task_info(self.paths['primary'])
        tasks = {**primary, **read_task_info(self.paths['related'])}
        known = set(tasks)
        splits = split_crosstask_videos(
            self._available('train_csv', known),
            self._available('val_csv', known), set(primary), known,
            self.n_train, self.seed)
        step_tokens = {
            task: [
                self.captions.token_ids(
                    step, f'CrossTask task {task!r} step {k + 1}')
                for k, step in enumerate(info.steps)
            ]
            for task, info in tasks.items()
        }
        data_list = []
        for task, vids in splits[self.split].items():
            for vid in vids:
                annotation = self.annotation_file(task, vid)
                data_list.append(
                    dict(
                        task=task,
                        vid=vid,
                        annotation=str(annotation),
                        spans=read_step_annotation(
                            annotation, len(tasks[task].steps)),
                        step_tokens=step_tokens[task]))
        if not data_list:
            raise ValueError(
                f'CrossTaskDataset: split {self.split!r} holds no video '
                f"(lists {self.paths['train_csv']}, {self.paths['val_csv']})")
        print_log(
            f'CrossTaskDataset: {len(data_list)} videos in split '
            f'{self.split!r}', logger='current')
        return data_list

    def prepare_data(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        where = f"CrossTask task {info['task']!r} video {info['vid']!r}"
        feat = self.features.load(info['vid'], where)
        n_steps = len(info['step_tokens'])
        assignment = step_assignment(info['spans'], len(feat), n_steps,
                                     f"{where} ({info['annotation']})",
                                     self.max_overrun)
        windows = sliding_windows(len(feat), self.window_stride,
                                  self.window_size)
        rows = [
            build_video_rows(feat, start, start + length, self.max_video_len)
            for start, length in windows
        ]
        caps, cmasks = self.captions.rows(info['step_tokens'])
        info.update(
            vfeats=torch.stack([r[0] for r in rows]),
            vmasks=torch.stack([r[1] for r in rows]),
            caps=caps,
            cmasks=cmasks,
            video_len=len(feat),
            window_starts=torch.tensor([w[0] for w in windows]),
            window_lengths=torch.tensor([w[1] for w in windows]),
            targets=torch.from_numpy(assignment).float(),
            gt_assignment=torch.from_numpy(assignment),
            step_sequence=torch.tensor([s[0] for s in info['spans']],
                                       dtype=torch.long))
        return self.pipeline(info)
