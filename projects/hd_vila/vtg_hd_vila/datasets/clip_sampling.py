"""Which frames HD-VILA reads from a video: ``n_clips`` clips of ``num_frm``
frames each (odd), ``sample_rate`` frames apart, around a middle frame (the
clip's keyframe).

The rule is the official ``get_sample_idx`` of the fine-tuning datasets
(``HDVILAVideoRetrievalDataset``, ``HDVILAVideoQADataset``,
``HDVILAMSRVTTMCEvalDataset``; the pre-training loader uses the random
branch):

* with ``r = (num_frm - 1) / 2`` neighbours on each side, a middle frame
  ``m`` must leave room for them: ``m`` is in ``[r * rate, N - r * rate)``
  for a video of ``N`` frames;
* a video too short for that (``N < 2 * r * rate + n_clips``) is read with the
  rate lowered to ``floor((N - n_clips) / (2 * r))``;
* training draws the middles at random without replacement
  (``random.sample``) and sorts them; inference takes every
  ``int(len(candidates) / n_clips)``-th candidate from the first and keeps
  ``n_clips`` of them;
* clip ``k`` reads frames ``m_k - r * rate, ..., m_k, ..., m_k + r * rate``
  (step ``rate``).

A lowered rate of 0 (a video of fewer than ``n_clips + 2 * r`` frames) makes
each clip its middle frame repeated ``num_frm`` times, as the official QA
dataset does; the official retrieval and multiple-choice datasets crash on
it (``range`` with step 0). A video with fewer frames than ``n_clips`` (all
official datasets crash) is a :class:`ShortVideoError`.

Random draws use Python's ``random`` module as the official code does, so a
seeded run draws the same clips.
"""
import math
import os
import random
from typing import NamedTuple, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from vtg_plugins.features.frames import ShortVideoError
from vtg_plugins.registry import TRANSFORMS


class ClipIndices(NamedTuple):
    """Sampled frame indices.

    Attributes:
        middle (np.ndarray): ``int64 [n_clips]`` keyframe indices, ascending.
        frames (np.ndarray): ``int64 [n_clips, num_frm]`` the clips' frames;
            column ``(num_frm - 1) // 2`` is the keyframe.
        sample_rate (int): the rate used (lowered for short videos).
    """
    middle: np.ndarray
    frames: np.ndarray
    sample_rate: int


def check_clip_args(n_clips: int, num_frm: int, sample_rate: int) -> None:
    """Raise ``ValueError`` unless all three are positive integers and
    ``num_frm`` is odd."""
    for name, value in (('n_clips', n_clips), ('num_frm', num_frm),
                        ('sample_rate', sample_rate)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(
                f'{name} must be a positive integer, got {value!r}')
    if num_frm % 2 != 1:
        raise ValueError(f'num_frm must be odd (a keyframe with as many '
                         f'neighbours on each side), got {num_frm}')


def sample_clip_indices(total_frames: int,
                        n_clips: int,
                        num_frm: int,
                        sample_rate: int,
                        random_clips: bool,
                        rng: Optional[random.Random] = None) -> ClipIndices:
    """The clips of a video of ``total_frames`` frames (see the module doc).

    Args:
        total_frames (int): frames in the video.
        n_clips (int): clips to sample.
        num_frm (int): frames per clip, odd (the keyframe and its
            neighbours).
        sample_rate (int): frame step inside a clip.
        random_clips (bool): random middles (official training) or evenly
            spaced ones (official inference).
        rng (random.Random, optional): source of the random draw; the
            ``random`` module when None (as official).

    Returns:
        ClipIndices: middle frames, ``[n_clips, num_frm]`` clip frames and
        the rate used.

    Raises:
        ValueError: a non-positive argument or an even ``num_frm``.
        ShortVideoError: fewer frames than clips.
    """
    check_clip_args(n_clips, num_frm, sample_rate)
    if total_frames < n_clips:
        raise ShortVideoError(
            f'{total_frames} frames, fewer than the n_clips={n_clips} clips '
            'to sample')
    neighbours = (num_frm - 1) // 2
    rate = sample_rate
    if total_frames < 2 * neighbours * sample_rate + n_clips:
        rate = math.floor((total_frames - n_clips) / (2 * neighbours))
    candidates = list(
        range(neighbours * rate, total_frames - neighbours * rate))
    if random_clips:
        middle = (rng or random).sample(candidates, n_clips)
    else:
        step = int(len(candidates) / n_clips)
        middle = candidates[::step][:n_clips]
    middle = np.sort(np.asarray(middle, dtype=np.int64))
    offsets = np.arange(-neighbours, neighbours + 1, dtype=np.int64) * rate
    return ClipIndices(middle, middle[:, None] + offsets[None], rate)


@TRANSFORMS.register_module()
class SampleHDVILAClips(BaseTransform):
    """Sample HD-VILA clips (:func:`sample_clip_indices`).

    Required keys: ``total_frames`` (``filename`` / ``frame_dir``,
    ``ann_file`` and ``line`` name the record in errors). Added keys:
    ``frame_inds`` (``int64 [n_clips, num_frm]``), ``middle_inds``
    (``[n_clips]``), ``num_clips``, ``num_frm``, ``sample_rate``.

    Args:
        n_clips (int): clips per video (official ``train_n_clips`` /
            ``inference_n_clips``).
        num_frm (int): frames per clip, odd (official 7; 11 DiDeMo/LSMDC,
            13 ActivityNet).
        sample_rate (int): frame step (official 4; 2 DiDeMo, 3 LSMDC, 12
            pre-training).
        random_clips (bool): random middles (training, and the official
            validation during training) or evenly spaced ones (official
            inference).
    """

    def __init__(self, n_clips: int, num_frm: int, sample_rate: int,
                 random_clips: bool) -> None:
        check_clip_args(n_clips, num_frm, sample_rate)
        self.n_clips = n_clips
        self.num_frm = num_frm
        self.sample_rate = sample_rate
        self.random_clips = random_clips

    def transform(self, results: dict) -> dict:
        try:
            clips = sample_clip_indices(results['total_frames'], self.n_clips,
                                        self.num_frm, self.sample_rate,
                                        self.random_clips)
        except ShortVideoError as e:
            raise ShortVideoError(f'{describe_source(results)}: {e}') from None
        results['frame_inds'] = clips.frames
        results['middle_inds'] = clips.middle
        results['num_clips'] = self.n_clips
        results['num_frm'] = self.num_frm
        results['sample_rate'] = clips.sample_rate
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(n_clips={self.n_clips}, '
                f'num_frm={self.num_frm}, sample_rate={self.sample_rate}, '
                f'random_clips={self.random_clips})')


def describe_source(results: dict) -> str:
    """``'video x.mp4 (train.jsonl line 3)'`` naming a data info's video (or
    frame folder) and its annotation record, for error messages."""
    if 'filename' in results:
        what = f"video {results['filename']}"
    else:
        what = ('frame folder ' + os.path.join(
            str(results.get('frame_dir')), str(results.get('clip_id'))))
    if 'ann_file' in results and 'line' in results:
        what += f" ({results['ann_file']} line {results['line']})"
    return what
