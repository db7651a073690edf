"""CrossTask's task and video lists and MMPT's random train / test split.

Files of the CrossTask release (DmZhukov/CrossTask):

- ``tasks_primary.txt`` / ``tasks_related.txt``: one block per task of five
  lines (task id, title, URL, number of steps K, the K step texts joined by
  ``,``) followed by a blank line;
- ``videos.csv`` / ``videos_val.csv``: ``task,video,url`` lines, no header.

MMPT's ``CrossTaskMetaProcessor`` (used by TempCLR) seeds numpy's global RNG
with 0, removes the ``videos_val.csv`` videos from the ``videos.csv`` ones,
keeps the primary and related tasks, and for each primary task with more
than ``n_train`` videos draws ``np.random.choice(vids, n_train,
replace=False)`` as training videos, in the order the tasks first appear in
``videos.csv``; the task's other videos are the test (and "valid") split,
every other task trains on all its videos. :func:`split_crosstask_videos`
makes the same draws from a ``RandomState(seed)`` of its own, which gives the
same numbers without touching the global RNG.
"""
from pathlib import Path
from typing import Dict, List, NamedTuple, Set, Tuple

import numpy as np

from .downstream import PathLike, require_file

SPLITS = ('train', 'valid', 'test')
TaskVideos = Dict[str, List[str]]


class TaskInfo(NamedTuple):
    """One task of a CrossTask task file."""
    title: str
    url: str
    steps: List[str]


class VideoEntry(NamedTuple):
    """One line ``task,video,url`` of a CrossTask video list."""
    task: str
    vid: str
    url: str
    line: int


def _task_block(path: Path, lines: List[str], first: int) -> Tuple[str,
                                                                    TaskInfo]:
    block = lines[first:first + 5]
    task = block[0].strip()
    if not task:
        raise ValueError(f'CrossTask task file {path}: line {first + 1}: '
                         'empty task id')
    if len(block) < 5:
        raise ValueError(
            f'CrossTask task file {path}: task {task!r} (line {first + 1}) '
            f'has {len(block)} of the 5 lines id, title, url, number of '
            'steps, steps')
    try:
        n_steps = int(block[3].strip())
    except ValueError:
        raise ValueError(
            f'CrossTask task file {path}: line {first + 4}: task {task!r}: '
            f'number of steps {block[3]!r} is not an integer') from None
    steps = block[4].strip().split(',')
    if n_steps != len(steps):
        raise ValueError(
            f'CrossTask task file {path}: line {first + 5}: task {task!r} '
            f'declares {n_steps} steps but lists {len(steps)}: {steps}')
    empty = [k + 1 for k, step in enumerate(steps) if not step.strip()]
    if empty:
        raise ValueError(
            f'CrossTask task file {path}: line {first + 5}: task {task!r}: '
            f'step(s) {empty} have empty text')
    return task, TaskInfo(block[1].strip(), block[2].strip(), steps)


def read_task_info(path: PathLike) -> Dict[str, TaskInfo]:
    """Tasks of ``tasks_primary.txt`` / ``tasks_related.txt``, in file order
    (an empty file has none).

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: naming the file, line and task for a block that is
            short, not followed by a blank line, repeats a task id, has a
            non-integer K, or whose K is not the number of steps.
    """
    path = require_file(path, 'CrossTask task file')
    lines = path.read_text(encoding='utf-8').splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    tasks: Dict[str, TaskInfo] = {}
    first = 0
    while first < len(lines):
        task, info = _task_block(path, lines, first)
        if task in tasks:
            raise ValueError(f'CrossTask task file {path}: line {first + 1}: '
                             f'task {task!r} is listed twice')
        tasks[task] = info
        first += 5
        if first < len(lines):
            if lines[first].strip():
                raise ValueError(
                    f'CrossTask task file {path}: line {first + 1}: expected '
                    f'the blank line closing task {task!r}, got '
                    f'{lines[first]!r}')
            first += 1
    return tasks


def read_video_list(path: PathLike) -> List[VideoEntry]:
    """Lines of ``videos.csv`` / ``videos_val.csv`` in file order (blank
    lines are skipped).

    Raises:
        FileNotFoundError: when the file is missing.
        ValueError: naming the file and line when a line is not
            ``task,video,url`` with a non-empty task and video.
    """
    path = require_file(path, 'CrossTask video list')
    entries = []
    for num, text in enumerate(
            path.read_text(encoding='utf-8').splitlines(), 1):
        if not text.strip():
            continue
        fields = text.strip().split(',')
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise ValueError(f'CrossTask video list {path}: line {num} is not '
                             f'"task,video,url": {text!r}')
        entries.append(VideoEntry(fields[0], fields[1], fields[2], num))
    return entries


def group_by_task(entries: List[VideoEntry]) -> TaskVideos:
    """``{task: [video, ...]}`` with tasks in order of first appearance and
    videos in file order."""
    task_vids: TaskVideos = {}
    for entry in entries:
        task_vids.setdefault(entry.task, []).append(entry.vid)
    return task_vids


def official_random_split(task_vids: TaskVideos, test_tasks: Set[str],
                          n_train: int,
                          rng: np.random.RandomState) -> Tuple[TaskVideos,
                                                               TaskVideos]:
    """MMPT's ``_random_split``: ``(train, test)`` task -> videos.

    Tasks are visited in ``task_vids`` order; a test task with more than
    ``n_train`` videos draws ``rng.choice(vids, n_train, replace=False)``
    for training and tests on the rest (in list order); any other task
    trains on all its videos.
    """
    train: TaskVideos = {}
    test: TaskVideos = {}
    for task, vids in task_vids.items():
        if task in test_tasks and len(vids) > n_train:
            train[task] = rng.choice(vids, n_train, replace=False).tolist()
            test[task] = [v for v in vids if v not in train[task]]
        else:
            train[task] = vids
    return train, test


def split_crosstask_videos(train_vids: TaskVideos, val_vids: TaskVideos,
                           primary_tasks: Set[str], known_tasks: Set[str],
                           n_train: int = 30,
                           seed: int = 0) -> Dict[str, TaskVideos]:
    """The official split of the available videos.

    Args:
        train_vids: ``videos.csv`` videos with features and annotations,
            grouped by :func:`group_by_task`.
        val_vids: the same of ``videos_val.csv``; they leave ``train_vids``.
        primary_tasks: tasks of ``tasks_primary.txt`` (the test tasks).
        known_tasks: primary and related tasks; other tasks are dropped.
        n_train (int): training videos drawn per primary task.
        seed (int): the seed of the draws (0 in MMPT).

    Returns:
        dict: ``{'train': ..., 'valid': ..., 'test': ...}`` task -> videos;
        ``'valid'`` and ``'test'`` are the same split, as in MMPT.
    """
    rng = np.random.RandomState(seed)
    kept = {
        task: [v for v in vids if v not in val_vids.get(task, ())]
        for task, vids in train_vids.items()
    }
    kept = {task: vids for task, vids in kept.items() if task in known_tasks}
    train, test = official_random_split(kept, primary_tasks, n_train, rng)
    return dict(train=train, valid=test, test=test)
