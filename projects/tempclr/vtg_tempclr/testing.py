"""Synthetic HowTo100M pre-training data in MMPT's sharded layout, for tests
and the demo (see :mod:`vtg_tempclr.datasets.how2_layout`).

Each video has ``T`` feature steps and sorted, non-overlapping caption
windows inside ``[0, T]``. A caption's tokens are drawn at random and the
feature steps under its window are the mean of fixed random token
embeddings plus noise, so video and text share a signal a model can learn;
the steps between windows are noise.
"""
import os
import pickle
from pathlib import Path
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from vtg_plugins.utils.io import (atomic_save_npy, atomic_write_bytes,
                                  atomic_write_text)

PathLike = Union[str, os.PathLike]
#: MMPT's caption prefix (the tokenizer of its caption shards)
CAPTION_PREFIX = 'raw_caption_dedup.bert-base-uncased.'


def write_sharded_tensor(prefix: PathLike,
                         items: Sequence[np.ndarray]) -> None:
    """Write ``items`` (each ``[rows_i, ...]``) as one MMPT ShardedTensor
    ``{prefix}_starts.npy`` + ``{prefix}_data.npy``, atomically."""
    starts = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in items], out=starts[1:])
    atomic_save_npy(f'{prefix}_starts.npy', starts)
    atomic_save_npy(f'{prefix}_data.npy', np.concatenate(items, axis=0))


def _caption_windows(rng: np.random.Generator, num_frames: int,
                     count: int) -> np.ndarray:
    """``[count, 2]`` sorted, non-overlapping (start, end) in ``[0, T]``."""
    cuts = np.sort(rng.uniform(0, num_frames, size=2 * count))
    return np.round(cuts, 2).reshape(count, 2).astype(np.float32)


def _video(rng: np.random.Generator, table: np.ndarray, frames: Tuple[int,
                                                                      int],
           captions: Tuple[int, int], tokens: Tuple[int, int],
           first_token_id: int) -> Tuple[np.ndarray, np.ndarray, list]:
    num_frames = int(rng.integers(frames[0], frames[1] + 1))
    count = int(rng.integers(captions[0], captions[1] + 1))
    windows = _caption_windows(rng, num_frames, count)
    dim = table.shape[1]
    features = 0.1 * rng.standard_normal((num_frames, dim))
    caps = []
    for start, end in windows:
        ids = rng.integers(
            first_token_id,
            len(table),
            size=int(rng.integers(tokens[0], tokens[1] + 1)))
        caps.append(ids)
        steps = slice(
            int(np.floor(start)),
            max(int(np.ceil(end)),
                int(np.floor(start)) + 1))
        features[steps] += table[ids].mean(axis=0)
    return features.astype(np.float32), windows, caps


def _pad_captions(caps: Sequence[Sequence[np.ndarray]]) -> list:
    """Each video's captions as ``[n, L]`` int32 rows padded with -1, one
    ``L`` per shard."""
    width = max(len(c) for video in caps for c in video)
    out = []
    for video in caps:
        rows = np.full((len(video), width), -1, dtype=np.int32)
        for j, ids in enumerate(video):
            rows[j, :len(ids)] = ids
        out.append(rows)
    return out


def write_how2_shards(
    root: PathLike,
    num_videos: int,
    shard_size: int,
    feature_dim: int = 512,
    vocab_size: int = 40,
    seed: int = 0,
    split: str = 'train',
    first_token_id: int = 5,
    frames: Tuple[int, int] = (12, 48),
    captions: Tuple[int, int] = (1, 8),
    tokens: Tuple[int, int] = (1, 12)
) -> Dict[str, str]:
    """Write a complete pre-training set under ``root``.

    Files: ``root/how2_s3d_{split}.lst`` (all ids, shuffled),
    ``root/feat_how2_s3d_shard/{split}_meta.pkl`` (shard i holds videos
    ``i * shard_size ...``), the video shards and the caption shards with
    MMPT's caption prefix.

    Args:
        root: output folder (created).
        num_videos (int): videos ``vid00000 ...``.
        shard_size (int): videos per shard.
        feature_dim (int): feature size ``D``.
        vocab_size (int): token ids are drawn from
            ``[first_token_id, vocab_size)``; the default matches the tests'
            tiny vocabulary (whose first 5 entries are special tokens).
        seed (int): numpy seed of everything drawn.
        split (str): shard name prefix.
        first_token_id (int): the first non-special id.
        frames / captions / tokens (tuple): inclusive ranges of feature
            steps per video, captions per video and tokens per caption.

    Returns:
        dict: ``ann_file``, ``vfeat_dir``, ``tfeat_dir``, ``split``: the
        path arguments of :class:`~vtg_tempclr.datasets.How2ShardedDataset`.
    """
    if captions[0] < 1 or frames[0] < 1 or tokens[0] < 1:
        raise ValueError('frames, captions and tokens ranges must start at '
                         '>= 1')
    root = Path(root)
    vfeat_dir = root / 'feat_how2_s3d_shard'
    tfeat_dir = f'{vfeat_dir}{os.sep}{CAPTION_PREFIX}'
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((vocab_size, feature_dim))
    ids = [f'vid{i:05d}' for i in range(num_videos)]
    meta = {}
    for shard, begin in enumerate(range(0, num_videos, shard_size)):
        meta[shard] = ids[begin:begin + shard_size]
        videos = [
            _video(rng, table, frames, captions, tokens, first_token_id)
            for _ in meta[shard]
        ]
        write_sharded_tensor(vfeat_dir / f'{split}_{shard}',
                             [v[0] for v in videos])
        write_sharded_tensor(f'{tfeat_dir}{split}_{shard}.startends',
                             [v[1] for v in videos])
        write_sharded_tensor(f'{tfeat_dir}{split}_{shard}.caps_ids',
                             _pad_captions([v[2] for v in videos]))
    atomic_write_bytes(vfeat_dir / f'{split}_meta.pkl',
                       pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))
    ann_file = root / f'how2_s3d_{split}.lst'
    order = rng.permutation(num_videos)
    atomic_write_text(ann_file, ''.join(f'{ids[i]}\n' for i in order))
    return dict(
        ann_file=str(ann_file),
        vfeat_dir=str(vfeat_dir),
        tfeat_dir=tfeat_dir,
        split=split)
