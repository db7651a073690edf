"""Tiny HD-VILA datasets in the official layouts, for tests and demos.

Videos are written with PyAV (lossless H.264, the house writer of
:mod:`vtg_plugins.testing.action_videos`); every frame differs (red encodes
the frame index, green and blue are horizontal and vertical ramps, so a crop
or a flip shows). Frame folders follow the official ``decode_frames.py``:
full-resolution ``<name>_{i:03d}.jpg`` under ``video_frames/<clip_id>/`` and
bicubic low-resolution copies under ``video_frames_lr/<clip_id>/``.
Annotations are the official ``.jsonl`` records; the vocabulary is a tiny
``vocab.txt`` with BERT's special tokens and the words of the captions,
questions and options written here (``zebra`` is left out, so it is
``[UNK]``).
"""
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from vtg_plugins.testing.action_videos import write_frames

PathLike = Union[str, os.PathLike]

SPECIAL_TOKENS = ('[PAD]', '[unused0]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
WORDS = ('a', 'man', 'woman', 'dog', 'cat', 'is', 'are', 'play', '##ing',
         'the', 'guitar', 'piano', 'run', '##s', 'on', 'grass', 'what', 'who',
         'does', 'do', 'color', 'red', 'blue', 'two', 'three', 'how', 'many',
         'times', 'jump', 'sit', 'eat', 'then', 'after', '.', '?', ',')
#: captions of the tiny retrieval data (``zebra`` is not in the vocabulary)
CAPTIONS = ('a man is playing the guitar.', 'a dog runs on the grass',
            'a woman is playing the piano', 'a cat sits, then a zebra runs',
            'two dogs are playing', 'a man runs after a dog')
QA = (('what is the man playing?', 'guitar',
       'object'), ('what color is the cat?', 'red', 'color'),
      ('how many dogs are on the grass?', 'two',
       'number'), ('what does the woman play?', 'zebra', 'object'))
MC_OPTIONS = ('jump', 'sit', 'eat', 'run', 'play the piano')


def write_vocab(path: PathLike, words: Sequence[str] = WORDS) -> str:
    """A ``vocab.txt``: BERT's special tokens (``[PAD]`` = 0, ``[UNK]`` =
    2, ``[CLS]`` = 3, ``[SEP]`` = 4, ``[MASK]`` = 5), then ``words``."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(SPECIAL_TOKENS + tuple(words)) + '\n')
    return str(path)


def clip_frames(num_frames: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """``uint8 [num_frames, h, w, 3]``: red ``(8 i + seed) % 256`` in frame
    ``i``, green a left-to-right ramp, blue a top-to-bottom ramp."""
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    frames[..., 0] = ((8 * np.arange(num_frames) + seed) % 256)[:, None, None]
    frames[..., 1] = np.linspace(0, 255, w).astype(np.uint8)[None, None]
    frames[..., 2] = np.linspace(0, 255, h).astype(np.uint8)[None, :, None]
    return frames


def write_video(path: PathLike,
                num_frames: int,
                size: Tuple[int, int] = (36, 56),
                fps: int = 6,
                seed: int = 0) -> str:
    """A lossless H.264 ``.mp4`` of :func:`clip_frames` (``size`` is ``(h,
    w)``, both even)."""
    write_frames(str(path), clip_frames(num_frames, *size, seed), fps)
    return str(path)


def write_frame_folder(root: PathLike,
                       clip_id: str,
                       num_frames: int,
                       size: Tuple[int, int] = (72, 112),
                       lr_size: Tuple[int, int] = (18, 28),
                       seed: int = 0) -> Tuple[str, str]:
    """Frames of a clip in the official layout (see the module doc): the
    ``size`` frames under ``<root>/video_frames`` and PIL-bicubic
    ``lr_size`` copies under ``<root>/video_frames_lr`` (as
    ``decode_frames.py`` makes its 288x180 ones); returns both roots."""
    name = clip_id.split('/')[-1]
    roots = (os.path.join(root, 'video_frames'),
             os.path.join(root, 'video_frames_lr'))
    for folder in roots:
        os.makedirs(os.path.join(folder, clip_id), exist_ok=True)
    for i, frame in enumerate(clip_frames(num_frames, *size, seed)):
        img = Image.fromarray(frame)
        img.save(os.path.join(roots[0], clip_id, f'{name}_{i:03d}.jpg'))
        img.resize(lr_size[::-1], Image.BICUBIC).save(
            os.path.join(roots[1], clip_id, f'{name}_{i:03d}.jpg'))
    return roots


def write_jsonl(path: PathLike, records: Sequence[dict]) -> str:
    """One JSON object per line."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write(''.join(json.dumps(r) + '\n' for r in records))
    return str(path)


@dataclass
class TinyData:
    """What a ``make_*`` writer wrote.

    Attributes:
        root (str): the dataset root.
        ann_file (str): the annotation ``.jsonl``.
        vocab_file (str): the ``vocab.txt``.
        data_prefix (dict): the dataset's ``data_prefix``.
        records (list[dict]): the annotation records.
        num_frames (list[int]): frames of each record's video.
        ans2label_file (str): the answer vocabulary (QA), else ''.
        extra (dict): anything else the writer reports.
    """
    root: str
    ann_file: str
    vocab_file: str
    data_prefix: Dict[str, str]
    records: List[dict]
    num_frames: List[int]
    ans2label_file: str = ''
    extra: dict = field(default_factory=dict)


def _frame_counts(count: int, num_frames: Union[int, Sequence[int]]):
    if isinstance(num_frames, int):
        return [num_frames + 3 * i for i in range(count)]
    return list(num_frames)


def make_retrieval_data(root: PathLike,
                        vis_format: str = 'video',
                        num_videos: int = 4,
                        num_frames: Union[int, Sequence[int]] = 30,
                        size: Tuple[int, int] = (36, 56),
                        lr_size: Tuple[int, int] = (18, 28),
                        caption_lists: bool = False) -> TinyData:
    """MSR-VTT-style (``vis_format='video'``) or DiDeMo/LSMDC-style
    (``'frame'``) retrieval data: ``num_videos`` records ``{"clip_id",
    "text"[, "num_frame"]}``.

    Args:
        root: output folder.
        vis_format (str): ``'video'`` or ``'frame'``.
        num_videos (int): records (one video each).
        num_frames: frames per video (an int: video ``i`` has ``num_frames
            + 3 i``).
        size: video frame (or full-resolution frame) ``(h, w)``.
        lr_size: low-resolution frame size (frame folders).
        caption_lists (bool): ``text`` as a list of two captions.
    """
    root = str(root)
    os.makedirs(root, exist_ok=True)
    counts = _frame_counts(num_videos, num_frames)
    records = []
    if vis_format == 'video':
        prefix = dict(video=os.path.join(root, 'videos_6fps'))
        os.makedirs(prefix['video'], exist_ok=True)
    for i, count in enumerate(counts):
        text = CAPTIONS[i % len(CAPTIONS)]
        rec = dict(
            clip_id=f'video{i}',
            text=[text, CAPTIONS[(i + 1) %
                                 len(CAPTIONS)]] if caption_lists else text)
        if vis_format == 'video':
            write_video(
                os.path.join(prefix['video'], f'video{i}.mp4'),
                count,
                size,
                seed=40 * i)
        else:
            rec['clip_id'] = f'movie{i}/clip{i}'
            rec['num_frame'] = count
            frames, lr_frames = write_frame_folder(
                root, rec['clip_id'], count, size, lr_size, seed=40 * i)
            prefix = dict(frames=frames, lr_frames=lr_frames)
        records.append(rec)
    return TinyData(root,
                    write_jsonl(os.path.join(root, 'anno.jsonl'), records),
                    write_vocab(os.path.join(root, 'vocab.txt')), prefix,
                    records, counts)


def _videos(root: str, names: Sequence[str], counts: Sequence[int],
            size: Tuple[int, int]) -> Dict[str, str]:
    prefix = dict(video=os.path.join(root, 'videos_mp4'))
    os.makedirs(prefix['video'], exist_ok=True)
    for i, (name, count) in enumerate(zip(names, counts)):
        write_video(
            os.path.join(prefix['video'], name + '.mp4'),
            count,
            size,
            seed=40 * i)
    return prefix


def make_qa_data(
    root: PathLike,
    task: str = 'frameqa',
    num_frames: Union[int, Sequence[int]] = 30,
    size: Tuple[int, int] = (36, 56)
) -> TinyData:
    """Open-ended QA data: TGIF FrameQA (``gif_name``) or MSRVTT-QA
    (``video_id``) records of :data:`QA` on two videos, and an
    ``ans2label.json`` without the last answer (``zebra``, out of the
    vocabulary). MSRVTT-QA answer types are mapped to its types."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    key = 'gif_name' if task == 'frameqa' else 'video_id'
    names = ['tumblr_a_250', 'tumblr_b_250'
             ] if task == 'frameqa' else ['video7', 'video8']
    msrvtt_type = dict(object='what', color='what', number='how')
    records = [{
        key: names[i % 2],
        'question': q,
        'answer': a,
        'answer_type': t if task == 'frameqa' else msrvtt_type[t]
    } for i, (q, a, t) in enumerate(QA)]
    counts = _frame_counts(2, num_frames)
    prefix = _videos(root, names, counts, size)
    answers = sorted({a for _, a, _ in QA[:-1]})
    ans2label = {a: i for i, a in enumerate(answers)}
    ans2label_file = os.path.join(root, 'ans2label.json')
    with open(ans2label_file, 'w', encoding='utf-8') as f:
        json.dump(ans2label, f)
    return TinyData(
        root,
        write_jsonl(os.path.join(root, f'{task}.jsonl'), records),
        write_vocab(os.path.join(root, 'vocab.txt')),
        prefix,
        records, [counts[i % 2] for i in range(len(records))],
        ans2label_file=ans2label_file)


def make_mc_data(
    root: PathLike,
    kind: str = 'tgif',
    num_frames: Union[int, Sequence[int]] = 30,
    size: Tuple[int, int] = (36, 56)
) -> TinyData:
    """Multiple-choice data, 5 options per question on two videos: TGIF
    Action/Transition records ``{"gif_name", "question", "options",
    "answer"}`` (``kind='tgif'``) or MSRVTT-MC ``{"clip_name", "options",
    "answer", "qid"}`` (``'msrvtt'``)."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    counts = _frame_counts(2, num_frames)
    if kind == 'tgif':
        names = ['tumblr_c_250', 'tumblr_d_250']
        records = [
            dict(
                gif_name=names[i],
                question=q,
                options=list(MC_OPTIONS),
                answer=(2 * i + 1) % len(MC_OPTIONS))
            for i, q in enumerate(('what does the dog do two times?',
                                   'what does the cat do after the man?'))
        ]
    else:
        names = ['video20', 'video21']
        records = [
            dict(
                clip_name=names[i],
                options=[CAPTIONS[(i + j) % len(CAPTIONS)] for j in range(5)],
                answer=(3 * i) % 5,
                qid=f'mc{i}') for i in range(2)
        ]
    prefix = _videos(root, names, counts, size)
    return TinyData(
        root, write_jsonl(os.path.join(root, f'{kind}_mc.jsonl'), records),
        write_vocab(os.path.join(root, 'vocab.txt')), prefix, records, counts)
