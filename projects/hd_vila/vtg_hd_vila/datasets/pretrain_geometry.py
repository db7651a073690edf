"""Resize and crop HD-VILA pre-training clips into keyframes and
low-resolution frames (official ``HDVILAPretrainDataset.load_video`` and
``process_img_array``).

1. every decoded frame is resized to ``frame_size`` (official ``(720,
   1280)``; ``(360, 640)`` / ``(180, 320)`` when the config has a ``360p`` /
   ``180p`` key) with ``F.interpolate``'s nearest mode unless it already has
   that size (larger videos are shrunk, smaller ones enlarged);
2. one ``crop_size`` window (official ``(640, 1024)``) at ``x =
   randint(0, h - crop_h)``, ``y = randint(0, w - crop_w)`` for all frames
   of the item, in training and in validation alike; no flip;
3. ``keyframe='high_res'`` (official for 720p / 360p): the keyframe is the
   cropped middle frame, and each other frame is the crop shrunk by 4 with
   OpenCV's bicubic interpolation (``cv2.resize(fx=0.25, fy=0.25,
   INTER_CUBIC)``): 640x1024 keyframes and 160x256 frames;
   ``keyframe='upsample'`` (official for 180p): the frames are the crops
   and the keyframe is the cropped middle frame enlarged x4 bicubically
   (:func:`~.geometry.upsample_keyframes`), as in fine-tuning.

Official bug (not reproduced): in ``get_images`` the ``else`` of the
``up4`` test overwrites the ``down4`` result, so the released code (720p /
360p) returns the non-key frames at the full crop size. Such frames cannot
reach the model: ``cnn_low`` then gives a grid 4 times the keyframe's
(40x64 against 10x16) and the official ``extract_features`` fails on the
``torch.cat`` of the two (``HDVILAVideoEncoder`` refuses them with a
ValueError). The released weights were therefore trained on the 1/4 frames
the code meant (or on the 180p path, which gives the same sizes), which is
what is done here.

The window is drawn with Python's ``random`` module, after the clip draw,
as official.
"""
import random
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from vtg_plugins.registry import TRANSFORMS
from .clip_sampling import describe_source
from .geometry import KEYFRAMES, SCALE, resize_nearest, upsample_keyframes


def downscale_frames(imgs: np.ndarray) -> np.ndarray:
    """``uint8 [N, h, w, 3]`` -> ``[N, h / 4, w / 4, 3]`` with OpenCV
    bicubic (the official intended low-resolution frames; ``h`` and ``w``
    multiples of 4)."""
    return np.stack([
        cv2.resize(
            np.ascontiguousarray(img),
            None,
            fx=1 / SCALE,
            fy=1 / SCALE,
            interpolation=cv2.INTER_CUBIC) for img in imgs
    ])


def _size(name: str, value: Sequence[int]) -> Tuple[int, int]:
    size = tuple(value)
    if len(size) != 2 or not all(
            isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ValueError(f'{name} must be two positive integers (h, w), got '
                         f'{value!r}')
    return int(size[0]), int(size[1])


@TRANSFORMS.register_module()
class HDVILAPretrainResizeCrop(BaseTransform):
    """Resize and crop pre-training clips (see the module doc).

    Required keys: ``imgs`` (``uint8 [n_clips, num_frm, H, W, 3]``). Added
    keys: ``keyframes`` (``uint8 [n_clips, Hk, Wk, 3]``), ``frames``
    (``uint8 [n_clips, num_frm - 1, Hk / 4, Wk / 4, 3]``), ``crop_box``
    (``(x, y, crop_h, crop_w)`` on the ``frame_size`` frames); ``imgs`` is
    removed. ``Hk x Wk`` is ``crop_size`` (``'high_res'``) or 4 times it
    (``'upsample'``).

    Args:
        frame_size (Sequence[int]): ``(h, w)`` every frame is resized to
            (official ``(720, 1280)``).
        crop_size (Sequence[int]): ``(crop_h, crop_w)`` (official ``(640,
            1024)``; with ``'upsample'`` e.g. ``(160, 256)`` on 180p).
        keyframe (str): ``'high_res'`` (keyframe = crop, frames = crop / 4)
            or ``'upsample'`` (keyframe = 4 x crop, frames = crop).

    Raises:
        ValueError: a crop larger than ``frame_size``, a ``'high_res'`` crop
            whose sides are not multiples of 4, or an unknown ``keyframe``;
            clips of one frame (no low-resolution frame; the official code
            crashes on them).
    """

    def __init__(self,
                 frame_size: Sequence[int] = (720, 1280),
                 crop_size: Sequence[int] = (640, 1024),
                 keyframe: str = 'high_res') -> None:
        if keyframe not in KEYFRAMES:
            raise ValueError(f'keyframe must be one of {KEYFRAMES}, got '
                             f'{keyframe!r}')
        self.frame_size = _size('frame_size', frame_size)
        self.crop_size = _size('crop_size', crop_size)
        self.keyframe = keyframe
        if any(c > f for c, f in zip(self.crop_size, self.frame_size)):
            raise ValueError(f'crop_size {self.crop_size} does not fit in '
                             f'frame_size {self.frame_size}')
        if keyframe == 'high_res' and any(c % SCALE for c in self.crop_size):
            raise ValueError(
                f"keyframe='high_res' shrinks the crop by {SCALE} for the "
                f'frames, so crop_size {self.crop_size} must be multiples of '
                f'{SCALE}')

    def transform(self, results: dict) -> dict:
        imgs = results.pop('imgs')
        n_clips, num_frm = imgs.shape[:2]
        if num_frm < 3:
            raise ValueError(
                f'{describe_source(results)}: clips of {num_frm} frame(s); '
                'pre-training needs a keyframe and its neighbours '
                '(num_frm >= 3)')
        flat = resize_nearest(
            imgs.reshape(-1, *imgs.shape[2:]), self.frame_size)
        (h, w), (crop_h, crop_w) = self.frame_size, self.crop_size
        x = random.randint(0, h - crop_h)
        y = random.randint(0, w - crop_w)
        clips = flat[:, x:x + crop_h,
                     y:y + crop_w].reshape(n_clips, num_frm, crop_h, crop_w, 3)
        middle = (num_frm - 1) // 2
        key = clips[:, middle]
        others = np.delete(clips, middle, axis=1)
        if self.keyframe == 'high_res':
            frames = downscale_frames(others.reshape(-1, crop_h, crop_w, 3))
            frames = frames.reshape(n_clips, num_frm - 1, *frames.shape[1:])
        else:
            key, frames = upsample_keyframes(key), others
        results['keyframes'] = np.ascontiguousarray(key)
        results['frames'] = np.ascontiguousarray(frames)
        results['crop_box'] = (x, y, crop_h, crop_w)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(frame_size={self.frame_size}, '
                f'crop_size={self.crop_size}, keyframe={self.keyframe!r})')
