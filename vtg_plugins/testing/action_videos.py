"""Tiny labelled videos for action-recognition tests and demos.

Each class has its own colour and its own direction of motion (a bright bar
sweeping left, right, up or down across a tinted background), so both a
per-frame (spatial) model and a temporal one can learn it in a few
iterations. Videos are written with PyAV (lossless H.264), and the lists
use the official ``<video> <label>`` space-separated layout of the VideoMAE
family (one file per split), or any extra label columns a dataset needs.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import av
import numpy as np

_DIRECTIONS = ('right', 'left', 'down', 'up')


@dataclass
class ActionVideoData:
    """What :func:`make_action_videos` wrote.

    Attributes:
        root (str): dataset root.
        lists (dict[str, str]): split -> list file (``<video> <label> ...``).
        video_dir (str): folder of the videos (list paths are relative to it).
        labels (dict[str, list[int]]): split -> class of each list line.
        columns (list[str]): the list's columns.
    """
    root: str
    lists: Dict[str, str]
    video_dir: str
    labels: Dict[str, List[int]]
    columns: List[str]


def class_colour(label: int, num_classes: int) -> np.ndarray:
    """RGB background tint of class ``label``: hues evenly spaced."""
    hue = label / max(num_classes, 1)
    sector, frac = int(hue * 6) % 6, hue * 6 % 1
    ramps = [(1, frac, 0), (1 - frac, 1, 0), (0, 1, frac), (0, 1 - frac, 1),
             (frac, 0, 1), (1, 0, 1 - frac)]
    return (np.array(ramps[sector]) * 160 + 40).astype(np.uint8)


def action_frames(label: int, num_classes: int, num_frames: int, h: int,
                  w: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[num_frames, h, w, 3]``: class tint + noise + a bar moving in
    the class's direction (``_DIRECTIONS[label % 4]``) from a random start."""
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    frames[:] = class_colour(label, num_classes)
    noise = rng.integers(-20, 21, size=frames.shape)
    frames = np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    direction = _DIRECTIONS[label % len(_DIRECTIONS)]
    span = w if direction in ('right', 'left') else h
    start = int(rng.integers(0, span))
    bar = max(span // 8, 1)
    for t in range(num_frames):
        step = t * max(span // num_frames, 1)
        pos = (start + step) % span if direction in ('right', 'down') \
            else (start - step) % span
        if direction in ('right', 'left'):
            frames[t, :, pos:pos + bar] = 255
        else:
            frames[t, pos:pos + bar, :] = 255
    return frames


def write_frames(path: str, frames: np.ndarray, fps: int = 8) -> None:
    """Write ``[T, H, W, 3]`` uint8 frames as a lossless H.264 video."""
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        stream.options = {'qp': '0'}
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_action_videos(root: str,
                       splits: Optional[Dict[str, int]] = None,
                       num_classes: int = 3,
                       num_frames: int = 16,
                       size: Sequence[int] = (40, 48),
                       fps: int = 8,
                       seed: int = 0,
                       extra_labels: Optional[Dict[str, int]] = None,
                       list_suffix: str = '.csv') -> ActionVideoData:
    """Write ``splits[name]`` videos per class per split under
    ``root/videos/`` and one list per split ``root/<split><list_suffix>``.

    Each list line is ``<file> <label>`` (path relative to ``root/videos``),
    followed by one column per ``extra_labels`` entry (name -> number of
    values; the value is ``label % n``, so e.g. a noun and a verb column
    are both determined by the class). ``size`` is ``(h, w)``.

    Returns:
        ActionVideoData: the paths and labels written.
    """
    splits = splits or dict(train=4, val=2)
    extra_labels = extra_labels or {}
    video_dir = os.path.join(root, 'videos')
    os.makedirs(video_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    files, labels = {}, {}
    for split, per_class in splits.items():
        lines: List[str] = []
        labels[split] = []
        for i in range(per_class):
            for label in range(num_classes):
                name = f'{split}_{label:03d}_{i:03d}.mp4'
                write_frames(
                    os.path.join(video_dir, name),
                    action_frames(label, num_classes, num_frames, h, w, rng),
                    fps)
                extra = [str(label % n) for n in extra_labels.values()]
                lines.append(' '.join([name, str(label), *extra]))
                labels[split].append(label)
        files[split] = os.path.join(root, split + list_suffix)
        with open(files[split], 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return ActionVideoData(
        root=root,
        lists=files,
        video_dir=video_dir,
        labels=labels,
        columns=['video', 'label', *extra_labels])
