"""Frame indices and test crops exactly as the official TSTL / CAST loaders
(``dataset/ssv2.py``, ``epic.py``, ``kinetics.py``) pick them.

MMAction2's ``SampleFrames`` / ``UniformSample`` / ``ThreeCrop`` pick other
frames and crops (equal-segment centres, ``k * seg / (n + 1)`` offsets,
left/right/centre order with a ``2 * ((L - c) // 2)`` right offset), so
these transforms write the official formulas out. With ``L`` frames:

* :class:`SegmentSampleFrames` (SSv2, EPIC-Kitchens, UCF101): ``S`` segments
  of ``avg = L // S`` frames; train frame ``x`` is ``x * avg + randint(avg -
  end_margin)``; test view ``k`` of ``n`` is ``int(tick * x + tick * k /
  n)`` with ``tick = L / S`` (the official two views: ``int(tick * x)`` and
  ``int(tick / 2 + tick * x)``).
* :class:`DenseSampleFrames` (K400): train ``clip_len`` frames
  ``linspace(s, s + clip_len * interval, clip_len)`` (truncated, the last
  clamped to ``s + span - 1``) from a random start ``s``; test view ``k``
  takes ``clip_len`` consecutive frames of ``range(0, L, interval)``
  from ``int(k * (m - clip_len) / (n - 1))``, ``m`` their count.
* :class:`ShortSideResize` + :class:`UniformThreeCrop`: the short side to
  224 (bilinear, the long side truncated), then crops at
  ``int(k * (long - crop) / (n - 1))`` along the long side, in the official
  order (left/top, centre, right/bottom).

UCF101 is built by the official ``datasets.py`` as ``VideoClsDataset(clip_len
=1, num_segment=16, frame_sample_rate=4)``: segment sampling whose random
offset leaves the segment's last ``frame_interval`` frames out, which is
``SegmentSampleFrames(end_margin=4)``. (That loader also samples val/test in
train mode, with random crops and flips; here UCF101 is tested on
``SegmentSampleFrames(num_clips=5, test_mode=True)`` x 3 crops.)

A video too short for the clip is a :class:`ShortVideoError` naming the file
and the list line, unless ``allow_short=True`` takes the frames the official
code would (repeated or clamped; see each class).

Train spatial path (official ``_aug_frame``, the same in every loader): the
RandAugment of the native-size frames, then ``random_resized_crop`` with
area ``(0.08, 1)`` and log-uniform ratio ``(0.75, 1.3333)`` (10 tries)
resized to 224 bilinear, then a horizontal flip with p 0.5 except for SSv2.
In MMAction2 terms: ``RandomResizedCrop(area_range=(0.08, 1.0),
aspect_ratio_range=(0.75, 1.3333))``, ``Resize(scale=(224, 224),
keep_ratio=False)``, ``Flip(flip_ratio=0.5)`` (none for SSv2). They differ
in that MMAction2 falls back to the centre square when the 10 tries fail
(the official: the largest centred crop within the ratio range), and
resizes the uint8 frames (the official: the normalised float frames, so
values differ by under one grey level).
"""
from typing import List

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from vtg_plugins.features.frames import ShortVideoError
from vtg_plugins.registry import TRANSFORMS
from .video_list import record_source


def _short_error(results: dict, sampler: str, need: int, why: str) -> None:
    raise ShortVideoError(
        f"video {results.get('filename', '?')}{record_source(results)} has "
        f"{results['total_frames']} frames, {sampler} needs at least {need} "
        f'({why}); set allow_short=True to repeat frames as the official '
        'loader does')


def _set_clips(results: dict, inds: np.ndarray, clip_len: int,
               num_clips: int, frame_interval: int) -> dict:
    results['frame_inds'] = inds.astype(np.int64)
    results['clip_len'] = clip_len
    results['num_clips'] = num_clips
    results['frame_interval'] = frame_interval
    return results


@TRANSFORMS.register_module()
class SegmentSampleFrames(BaseTransform):
    """One frame per segment, as the official SSv2 / EPIC loaders (and the
    UCF101 one, with ``end_margin``) sample.

    Required keys: ``total_frames`` (and ``filename``, ``ann_file``, ``line``
    for messages). Added keys: ``frame_inds`` (``[num_clips * num_segments]``
    int64, view-major), ``clip_len`` (= ``num_segments``), ``num_clips``,
    ``frame_interval`` (None).

    Args:
        num_segments (int): frames per clip (16).
        num_clips (int): test views (2 for SSv2 / EPIC, 5 for UCF101); 1 in
            training.
        test_mode (bool): the deterministic test views.
        end_margin (int): train offsets are ``randint(avg - end_margin)``; 0
            for SSv2 / EPIC, the official ``sampling_rate`` (4) for UCF101.
            When ``0 < avg <= end_margin`` the official offset is ``0`` if
            ``avg == end_margin`` else ``avg - 1``.
        allow_short (bool): accept ``L < num_segments``: test views use the
            formula as is (frames repeat, as official); training draws
            ``floor(tick * (x + u))``, ``u ~ U[0, 1)`` (the official train
            path would give frame 0, or the last frame for UCF101, 16 times).
    """

    def __init__(self,
                 num_segments: int = 16,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 end_margin: int = 0,
                 allow_short: bool = False) -> None:
        if num_segments < 1 or num_clips < 1 or end_margin < 0:
            raise ValueError(
                'SegmentSampleFrames: num_segments and num_clips must be >= 1'
                f' and end_margin >= 0, got {num_segments}, {num_clips}, '
                f'{end_margin}')
        if num_clips > 1 and not test_mode:
            raise ValueError('SegmentSampleFrames: training samples one clip '
                             f'(num_clips=1), got num_clips={num_clips}')
        self.num_segments = num_segments
        self.num_clips = num_clips
        self.test_mode = test_mode
        self.end_margin = end_margin
        self.allow_short = allow_short

    def _train_inds(self, num_frames: int) -> np.ndarray:
        seg = np.arange(self.num_segments)
        avg = num_frames // self.num_segments
        if avg == 0:
            tick = num_frames / self.num_segments
            return np.floor(tick * (seg + np.random.rand(len(seg))))
        if avg > self.end_margin:
            return seg * avg + np.random.randint(
                avg - self.end_margin, size=self.num_segments)
        offset = 0 if avg == self.end_margin else avg - 1
        return seg * avg + offset

    def _test_inds(self, num_frames: int) -> np.ndarray:
        tick = num_frames / self.num_segments
        views = [[
            int(tick * x + tick * k / self.num_clips)
            for x in range(self.num_segments)
        ] for k in range(self.num_clips)]
        return np.asarray(views).reshape(-1)

    def transform(self, results: dict) -> dict:
        num_frames = results['total_frames']
        if num_frames < self.num_segments and not self.allow_short:
            _short_error(results, repr(self), self.num_segments,
                         'one frame per segment')
        inds = (self._test_inds if self.test_mode else
                self._train_inds)(num_frames)
        return _set_clips(results, inds, self.num_segments, self.num_clips,
                          None)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_segments={self.num_segments}, '
                f'num_clips={self.num_clips}, test_mode={self.test_mode}, '
                f'end_margin={self.end_margin})')


@TRANSFORMS.register_module()
class DenseSampleFrames(BaseTransform):
    """A clip of ``clip_len`` frames ``frame_interval`` apart, as the
    official Kinetics loader (``VideoClsDataset``, one segment) samples.

    Required keys: ``total_frames``. Added keys: ``frame_inds``
    (``[num_clips * clip_len]`` int64, view-major), ``clip_len``,
    ``num_clips``, ``frame_interval``.

    Args:
        clip_len (int): frames per clip (16).
        frame_interval (int): the official ``sampling_rate`` (4).
        num_clips (int): test views (5); 1 in training.
        test_mode (bool): the deterministic test views. With one view the
            clip is centred (the official code divides by zero).
        allow_short (bool): accept a video shorter than the clip, sampled
            as official: in training (``L < clip_len * frame_interval``)
            ``linspace(0, L, L // frame_interval)`` then frame ``L - 1``
            repeated; in test (``ceil(L / frame_interval) < clip_len``) the
            last frame of ``range(0, L, frame_interval)`` repeated.
    """

    def __init__(self,
                 clip_len: int = 16,
                 frame_interval: int = 4,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 allow_short: bool = False) -> None:
        if min(clip_len, frame_interval, num_clips) < 1:
            raise ValueError(
                'DenseSampleFrames: clip_len, frame_interval and num_clips '
                f'must be >= 1, got {clip_len}, {frame_interval}, {num_clips}')
        if num_clips > 1 and not test_mode:
            raise ValueError('DenseSampleFrames: training samples one clip '
                             f'(num_clips=1), got num_clips={num_clips}')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.num_clips = num_clips
        self.test_mode = test_mode
        self.allow_short = allow_short

    def _train_inds(self, results: dict) -> np.ndarray:
        num_frames = results['total_frames']
        span = self.clip_len * self.frame_interval
        if num_frames < span:
            if not self.allow_short:
                _short_error(results, repr(self), span,
                             f'clip_len {self.clip_len} x frame_interval '
                             f'{self.frame_interval}')
            head = np.linspace(0, num_frames,
                               num=num_frames // self.frame_interval)
            tail = np.full(self.clip_len - len(head), num_frames)
            return np.clip(np.concatenate([head, tail]), 0, num_frames - 1)
        end = span if num_frames == span else np.random.randint(
            span, num_frames)
        inds = np.linspace(end - span, end, num=self.clip_len)
        return np.clip(inds, end - span, end - 1)

    def _test_inds(self, results: dict) -> np.ndarray:
        num_frames = results['total_frames']
        base = list(range(0, num_frames, self.frame_interval))
        if len(base) < self.clip_len:
            if not self.allow_short:
                _short_error(
                    results, repr(self),
                    (self.clip_len - 1) * self.frame_interval + 1,
                    f'{self.clip_len} frames {self.frame_interval} apart')
            base += base[-1:] * (self.clip_len - len(base))
        room = len(base) - self.clip_len
        if self.num_clips == 1:
            starts = [room // 2]
        else:
            step = max(room / (self.num_clips - 1), 0)
            starts = [int(k * step) for k in range(self.num_clips)]
        return np.concatenate(
            [base[s:s + self.clip_len] for s in starts])

    def transform(self, results: dict) -> dict:
        inds = (self._test_inds if self.test_mode else
                self._train_inds)(results)
        return _set_clips(results, inds, self.clip_len, self.num_clips,
                          self.frame_interval)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, num_clips='
                f'{self.num_clips}, test_mode={self.test_mode})')


@TRANSFORMS.register_module()
class ShortSideResize(BaseTransform):
    """Resize the short side to ``short_side`` as the official test path
    does (``video_transforms.Resize``: the long side ``int(long * short_side
    / short)``, truncated; cv2 bilinear on uint8). MMAction2's ``Resize``
    rounds the long side instead, which moves the crops.

    Required keys: ``imgs`` (``[H, W, 3]`` each). Modified: ``imgs``,
    ``img_shape``.
    """

    def __init__(self, short_side: int = 224,
                 interpolation: str = 'bilinear') -> None:
        self.short_side = short_side
        self.interpolation = interpolation

    def transform(self, results: dict) -> dict:
        h, w = results['imgs'][0].shape[:2]
        s = self.short_side
        new_h, new_w = (int(s * h / w), s) if w < h else (s, int(s * w / h))
        if (new_h, new_w) != (h, w):
            results['imgs'] = [
                mmcv.imresize(img, (new_w, new_h),
                              interpolation=self.interpolation)
                for img in results['imgs']
            ]
        results['img_shape'] = (new_h, new_w)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(short_side={self.short_side})'


@TRANSFORMS.register_module()
class UniformThreeCrop(BaseTransform):
    """The official test crops of a short-side-resized clip.

    Crop ``k`` of ``n`` starts at ``int(k * (long - crop_size) / (n - 1))``
    along the long side (rows when ``H >= W``), in the official order:
    left (top), centre, right (bottom). Along the short side it is centred
    (``int(round((short - crop_size) / 2))``; the official test crops keep
    the whole short side, which is ``crop_size`` after
    :class:`ShortSideResize`). ``num_crops=1`` is the official validation
    ``CenterCrop`` (both offsets rounded as Python rounds).

    Required keys: ``imgs``. Modified: ``imgs`` (crop-major: all frames of
    crop 0, then crop 1, ... as ``FormatShape`` expects), ``img_shape``;
    added ``crop_bbox`` (``[len(imgs), 4]`` x1, y1, x2, y2).
    """

    def __init__(self, crop_size: int = 224, num_crops: int = 3) -> None:
        if crop_size < 1 or num_crops < 1:
            raise ValueError('UniformThreeCrop: crop_size and num_crops must '
                             f'be >= 1, got {crop_size}, {num_crops}')
        self.crop_size = crop_size
        self.num_crops = num_crops

    def _offsets(self, long: int) -> List[int]:
        c = self.crop_size
        if self.num_crops == 1:
            return [int(round((long - c) / 2))]
        step = (long - c) / (self.num_crops - 1)
        return [int(k * step) for k in range(self.num_crops)]

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        h, w = imgs[0].shape[:2]
        c = self.crop_size
        if min(h, w) < c:
            raise ValueError(
                f"UniformThreeCrop: frames of {results.get('filename', '?')}"
                f'{record_source(results)} are {h}x{w}, smaller than the '
                f'{c} crop; resize the short side first (ShortSideResize)')
        centre = int(round((min(h, w) - c) / 2))
        boxes = []
        for offset in self._offsets(max(h, w)):
            y, x = (offset, centre) if h >= w else (centre, offset)
            boxes.append([x, y, x + c, y + c])
        results['imgs'] = [
            img[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes for img in imgs
        ]
        results['crop_bbox'] = np.repeat(np.array(boxes), len(imgs), axis=0)
        results['img_shape'] = (c, c)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'num_crops={self.num_crops})')
