"""Tiny YouCook2, MSR-VTT and CrossTask data in the official file layouts.

For tests and demos of the downstream datasets (nothing here is read by the
datasets themselves). The writers take plain Python descriptions of the
data and write the files the official configs point at; the ``tiny_*``
functions write one small ready-made dataset each and return the
constructor arguments of its dataset class (without ``vocab_file``). Their
captions and step texts use the words of :data:`WORDS`, which
:func:`write_vocab` puts in a WordPiece ``vocab.txt``. Features are float32
standard-normal ``[T, dim]``, one row per second.
"""
import csv
import io
import pickle
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from vtg_plugins.utils.io import (atomic_save_npy, atomic_write_bytes,
                                  atomic_write_json, atomic_write_text)

PathLike = Union[str, Path]
#: (start_s, end_s, sentence) of one YouCook2 clip
YouCookClip = Tuple[int, int, str]
#: (1-based step, start_s, end_s) of one CrossTask annotation line
StepLine = Tuple[int, float, float]

WORDS = ('a', 'man', 'opens', 'the', 'door', 'cut', 'onion', 'add', 'salt',
         'pour', 'water', 'into', 'pan', 'stir', 'and', 'then', 'mix', 'egg',
         'bread', 'oil', 'heat', 'put', 'on', 'top', 'it', 'with', 'jack',
         'tire', 'car', 'remove', 'wheel')
#: words the pkl captions of YouCook2 leave out (HowTo100M's captions have
#: their stop words removed; the annotation sentences keep them)
STOP_WORDS = ('a', 'the', 'and', 'then', 'into', 'on', 'it', 'with')


def write_vocab(path: PathLike, words: Sequence[str] = WORDS) -> Path:
    """A WordPiece ``vocab.txt``: BERT's special tokens, then ``words``."""
    tokens = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]') + tuple(words)
    atomic_write_text(path, '\n'.join(tokens) + '\n')
    return Path(path)


def write_features(vfeat_dir: PathLike, lengths: Mapping[str, int],
                   dim: int = 512, seed: int = 0) -> Path:
    """``{vfeat_dir}/{video}.npy`` float32 ``[T, dim]`` for each
    ``video: T`` of ``lengths``."""
    vfeat_dir = Path(vfeat_dir)
    vfeat_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for video, length in lengths.items():
        atomic_save_npy(vfeat_dir / f'{video}.npy',
                        rng.standard_normal((length, dim)).astype(np.float32))
    return vfeat_dir


def write_youcook2(root: PathLike,
                   videos: Mapping[str, Tuple[int, Sequence[YouCookClip]]],
                   dim: int = 512,
                   seed: int = 0,
                   feature_videos: Optional[Sequence[str]] = None
                   ) -> Dict[str, str]:
    """YouCook2 as TempCLR's ``test_youcook_*.yaml`` reads it.

    Args:
        root: output directory.
        videos: ``video -> (T seconds, [(start, end, sentence), ...])``.
        dim (int): feature width.
        seed (int): seed of the features.
        feature_videos: videos that get a feature file (default: all).

    Writes ``youcook_val.pkl`` (records ``id={video}_{clip}``, ``caption``:
    the sentence without :data:`STOP_WORDS`),
    ``youcookii_annotations_trainval.json`` (``database`` with
    ``duration``, ``subset``, ``annotations[{segment, id, sentence}]``) and
    ``features/{video}.npy``.

    Returns:
        dict: ``ann_file``, ``trainval_annotation``, ``vfeat_dir``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    records, database = [], {}
    for video, (length, clips) in videos.items():
        database[video] = dict(
            duration=float(length),
            subset='validation',
            recipe_type='101',
            annotations=[
                dict(segment=[start, end], id=k, sentence=sentence)
                for k, (start, end, sentence) in enumerate(clips)
            ])
        for k, (_, _, sentence) in enumerate(clips):
            caption = ' '.join(w for w in sentence.split()
                               if w not in STOP_WORDS)
            records.append({'id': f'{video}_{k}', 'caption': caption})
    atomic_write_bytes(root / 'youcook_val.pkl', pickle.dumps(records))
    atomic_write_json(root / 'youcookii_annotations_trainval.json',
                      dict(database=database))
    names = list(videos) if feature_videos is None else feature_videos
    vfeat_dir = write_features(root / 'features',
                               {v: videos[v][0]
                                for v in names}, dim, seed)
    return dict(
        ann_file=str(root / 'youcook_val.pkl'),
        trainval_annotation=str(root / 'youcookii_annotations_trainval.json'),
        vfeat_dir=str(vfeat_dir))


def write_msrvtt(root: PathLike,
                 pairs: Sequence[Tuple[str, int, str]],
                 dim: int = 512,
                 seed: int = 0) -> Dict[str, str]:
    """MSR-VTT 1k-A as MMPT's ``test_vtt_zs.yaml`` reads it.

    Args:
        pairs: ``(video_id, T seconds, sentence)`` per test pair.

    Writes ``MSRVTT_JSFUSION_test.csv`` (header ``key,vid_key,video_id,
    sentence``) and ``features/{video_id}.npy``.

    Returns:
        dict: ``ann_file``, ``vfeat_dir``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(['key', 'vid_key', 'video_id', 'sentence'])
    for row, (video, _, sentence) in enumerate(pairs):
        writer.writerow([f'ret{row}', video.replace('video', 'msr'), video,
                         sentence])
    atomic_write_text(root / 'MSRVTT_JSFUSION_test.csv', text.getvalue())
    vfeat_dir = write_features(root / 'features',
                               {v: n
                                for v, n, _ in pairs}, dim, seed)
    return dict(
        ann_file=str(root / 'MSRVTT_JSFUSION_test.csv'),
        vfeat_dir=str(vfeat_dir))


def task_file_text(tasks: Mapping[str, Tuple[str, Sequence[str]]]) -> str:
    """A CrossTask task file: per ``task -> (title, steps)`` the lines id,
    title, url, K, steps joined by ``,``, then a blank line."""
    blocks = []
    for task, (title, steps) in tasks.items():
        url = f'https://www.wikihow.com/{title.replace(" ", "-")}'
        blocks.append(f'{task}\n{title}\n{url}\n{len(steps)}\n'
                      f'{",".join(steps)}\n\n')
    return ''.join(blocks)


def video_list_text(videos: Sequence[Tuple[str, str]]) -> str:
    """A CrossTask video list: ``task,video,url`` per ``(task, video)``."""
    return ''.join(f'{task},{vid},https://www.youtube.com/watch?v={vid}\n'
                   for task, vid in videos)


def write_crosstask_release(
        root: PathLike,
        primary: Mapping[str, Tuple[str, Sequence[str]]],
        related: Mapping[str, Tuple[str, Sequence[str]]],
        videos: Sequence[Tuple[str, str]],
        val_videos: Sequence[Tuple[str, str]],
        annotations: Mapping[Tuple[str, str], Sequence[StepLine]],
        feature_lengths: Mapping[str, int],
        dim: int = 512,
        seed: int = 0) -> Dict[str, str]:
    """A CrossTask release folder as MMPT's ``crosstask.yaml`` reads it.

    Writes ``tasks_primary.txt``, ``tasks_related.txt`` (``task -> (title,
    steps)``), ``videos.csv``, ``videos_val.csv`` (``(task, video)``
    lines), ``annotations/{task}_{video}.csv`` (``step,start,end`` lines)
    and ``features/{video}.npy`` (``video -> T``).

    Returns:
        dict: ``data_root`` (the folder; the dataset's default file names
        are those of the release).
    """
    root = Path(root)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / 'tasks_primary.txt', task_file_text(primary))
    atomic_write_text(root / 'tasks_related.txt', task_file_text(related))
    atomic_write_text(root / 'videos.csv', video_list_text(videos))
    atomic_write_text(root / 'videos_val.csv', video_list_text(val_videos))
    for (task, vid), lines in annotations.items():
        atomic_write_text(
            root / 'annotations' / f'{task}_{vid}.csv',
            ''.join(f'{step},{start:.2f},{end:.2f}\n'
                    for step, start, end in lines))
    write_features(root / 'features', feature_lengths, dim, seed)
    return dict(data_root=str(root))


def random_step_lines(rng: np.random.Generator, num_seconds: int,
                      n_steps: int, num_lines: int) -> List[StepLine]:
    """``num_lines`` disjoint annotation spans in temporal order, each of a
    random step in ``1..n_steps``, with fractional bounds inside the
    video."""
    cuts = np.sort(rng.choice(num_seconds * 4, 2 * num_lines, replace=False))
    cuts = cuts / 4.0
    steps = rng.integers(1, n_steps + 1, num_lines)
    return [(int(s), float(cuts[2 * i]), float(cuts[2 * i + 1]))
            for i, s in enumerate(steps)]


def tiny_youcook2(root: PathLike, dim: int = 512,
                  seed: int = 0) -> Dict[str, str]:
    """Three videos (one id holding ``_``), seven clips, one clip longer than
    32 s; see :func:`write_youcook2`."""
    videos = {
        'Gx_4Kp9sQwE': (50, [(2, 10, 'cut the onion'),
                             (12, 48, 'add salt and then stir'),
                             (48, 50, 'pour water into the pan')]),
        'bT3kQ0yUa8M': (20, [(0, 6, 'heat oil on the pan'),
                             (7, 15, 'mix the egg')]),
        'Zq9Lm2Wx0cA': (16, [(1, 5, 'put bread on top'),
                             (5, 16, 'stir it with oil')]),
    }
    return write_youcook2(root, videos, dim, seed)


def tiny_msrvtt(root: PathLike, dim: int = 512,
                seed: int = 0) -> Dict[str, str]:
    """Four pairs, one video longer than 32 s; see :func:`write_msrvtt`."""
    pairs = [('video7010', 12, 'a man opens the door'),
             ('video7011', 40, 'a man jack the car'),
             ('video7012', 9, 'remove the wheel'),
             ('video7013', 30, 'pour water into the pan')]
    return write_msrvtt(root, pairs, dim, seed)


def tiny_crosstask(root: PathLike, dim: int = 512,
                   seed: int = 0) -> Dict[str, object]:
    """Two primary tasks of four videos and one related task of two;
    ``videos_val.csv`` lists one video of the first task, which leaves its
    training videos. With ``n_train=2`` (returned), the first task tests on
    one video and the second on two. Videos are 10 to 60 s long, so they
    have one to six windows.

    Returns:
        dict: ``data_root`` and ``n_train``.
    """
    rng = np.random.default_rng(seed)
    primary = {
        '16815': ('Jack Up a Car', ['remove wheel', 'jack car', 'put tire']),
        '23521': ('Make Bread',
                  ['add salt', 'pour water', 'mix egg', 'heat oil']),
    }
    related = {'40567': ('Open a Door', ['opens the door', 'man opens'])}
    videos = ([('16815', f'jk{i:02d}') for i in range(4)] +
              [('23521', f'br{i:02d}') for i in range(4)] +
              [('40567', f'dr{i:02d}') for i in range(2)])
    val_videos = [('16815', 'jk03'), ('23521', 'brv0')]
    tasks = {**primary, **related}
    lengths, annotations = {}, {}
    for task, vid in videos + val_videos[1:]:
        lengths[vid] = int(rng.integers(10, 61))
        annotations[(task, vid)] = random_step_lines(
            rng, lengths[vid], len(tasks[task][1]), 3)
    write_crosstask_release(root, primary, related, videos, val_videos,
                            annotations, lengths, dim, seed)
    return dict(data_root=str(root), n_train=2)
