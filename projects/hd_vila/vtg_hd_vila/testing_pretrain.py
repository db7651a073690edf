"""Tiny HD-VILA pre-training data in the official layouts, for tests and
demos (the video, vocabulary and annotation writers of :mod:`.testing`).

``layout='nested'`` writes HD-VILA-100M-style clips ``<root>/video_clips/
<video>/<video>.<k>.mp4`` (clip id ``<video>.<k>.mp4``, two clips per
source video); ``'flat'`` writes MSR-VTT-style ``<root>/videos/video<i>.mp4``
(clip id ``video<i>``). Each record is ``{"clip_id", "text"}`` with the
captions of :data:`~.testing.CAPTIONS`.
"""
import os
from typing import Sequence, Tuple, Union

from .testing import CAPTIONS, TinyData, write_jsonl, write_video, write_vocab

PathLike = Union[str, os.PathLike]


def make_pretrain_data(
    root: PathLike,
    layout: str = 'nested',
    num_clips: int = 4,
    num_frames: Union[int, Sequence[int]] = 40,
    size: Tuple[int, int] = (36, 56)
) -> TinyData:
    """Pre-training clips and their ``.jsonl`` (see the module doc).

    Args:
        root: output folder.
        layout (str): ``'nested'`` or ``'flat'``.
        num_clips (int): records (one clip video each).
        num_frames: frames per clip (an int: clip ``i`` has ``num_frames +
            3 i``).
        size: frame ``(h, w)``, both even.

    Returns:
        TinyData: ``data_prefix`` is ``dict(video=<video root>)``.
    """
    if layout not in ('nested', 'flat'):
        raise ValueError(f"layout must be 'nested' or 'flat', got {layout!r}")
    root = str(root)
    counts = ([num_frames + 3 * i for i in range(num_clips)] if isinstance(
        num_frames, int) else list(num_frames))
    video_root = os.path.join(
        root, 'video_clips' if layout == 'nested' else 'videos')
    records = []
    for i, count in enumerate(counts):
        if layout == 'nested':
            video = f'yt{i // 2}'
            clip_id = f'{video}.{i % 2}.mp4'
            path = os.path.join(video_root, video, clip_id)
        else:
            clip_id = f'video{i}'
            path = os.path.join(video_root, clip_id + '.mp4')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_video(path, count, size, seed=40 * i)
        records.append(dict(clip_id=clip_id, text=CAPTIONS[i % len(CAPTIONS)]))
    return TinyData(root,
                    write_jsonl(os.path.join(root, 'part1.jsonl'), records),
                    write_vocab(os.path.join(root, 'vocab.txt')),
                    dict(video=video_root), records, counts)
