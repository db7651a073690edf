"""Resize, crop and flip HD-VILA clips into keyframes and low-resolution
frames, as the official fine-tuning loaders do.

:class:`HDVILAResizeCrop` (official ``load_video`` of the retrieval,
MSRVTT-QA and MSRVTT-MC datasets, and ``load_frames`` of frame folders):

1. videos: every decoded frame is resized to ``resize_size`` (official
   ``(180, 288)``; ``resize_size`` / ``reshape_size`` of the configs) with
   nearest-neighbour interpolation (``F.interpolate`` on the float frames,
   back to uint8) unless it already has that size; frame folders are
   already low-resolution (``resize_size=None``);
2. a ``crop_size`` window (official ``(160, 256)``): in training at a random
   position ``x = randint(0, h - crop_h)``, ``y = randint(0, w - crop_w)``,
   with a horizontal flip with probability 1/3 (``choice([False, False,
   True])``, the window taken from the flipped frames); otherwise at
   ``(int((h - crop_h) / 2), int((w - crop_w) / 2))`` (videos) or
   ``(int(h / 18), int(w / 18))`` (official frame folders);
3. the keyframe: ``'upsample'`` (official for videos) the cropped
   low-resolution keyframe resized x4 with OpenCV's bicubic interpolation
   (``cv2.resize(fx=4, fy=4, INTER_CUBIC)``), so a 160x256 crop gives a
   640x1024 keyframe that holds no more detail than the 180x288 video
   frame; ``'high_res'`` (official for frame folders) the native keyframe
   resized to 4x the low-resolution size with OpenCV's default bilinear
   interpolation (``cv2.resize(img, (4 w, 4 h))``), flipped with the
   frames and cropped at the 4x window;
4. the frames: the cropped low-resolution clip without its keyframe.

:class:`HDVILAFitPad` (official QA loader for TGIF, whose video folder name
contains ``gif``): every frame's longer side is resized to ``max_size``
(official 192) with bilinear interpolation (``align_corners=False``, sizes
truncated), the frame is padded right and bottom to ``max_size`` square with
``pad_value`` (official ``int(255 / 2)``) and truncated to uint8; training
flips as above (the official code also draws the empty crop window, so the
random draws match), and the keyframe is the x4 bicubic upsampled one (or,
``'high_res'``, the native keyframe fitted and padded to ``4 * max_size``).

Random draws use Python's ``random`` module, in the official order.
"""
import random
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from vtg_plugins.registry import TRANSFORMS
from .clip_sampling import describe_source

KEYFRAMES = ('upsample', 'high_res')
TEST_OFFSETS = ('center', 'ninth')
#: keyframe / low-resolution frame size ratio (official)
SCALE = 4


def resize_nearest(imgs: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> ``[N, size[0], size[1], 3]`` with
    ``F.interpolate``'s default nearest mode (unchanged when the size
    matches)."""
    if tuple(imgs.shape[1:3]) == tuple(size):
        return imgs
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1,
                                                             2).float()
    x = F.interpolate(x, size=tuple(size))
    return x.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def fit_pad(imgs: np.ndarray, max_size: int, pad_value: int) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> ``[N, max_size, max_size, 3]``: the longer
    side bilinearly resized to ``max_size`` (the other to
    ``int(max_size * short / long)``), padded right and bottom with
    ``pad_value``, truncated to uint8 (official ``ImageResize`` +
    ``ImagePad`` on tensors)."""
    h, w = imgs.shape[1:3]
    if h >= w:
        size = (max_size, int(max_size * (w * 1. / h)))
    else:
        size = (int(max_size * (h * 1. / w)), max_size)
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1,
                                                             2).float()
    x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    x = F.pad(x, (0, max_size - size[1], 0, max_size - size[0]), 'constant',
              pad_value)
    return x.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def upsample_keyframes(imgs: np.ndarray) -> np.ndarray:
    """``uint8 [N, h, w, 3]`` -> ``[N, 4h, 4w, 3]`` with OpenCV bicubic
    (official fine-tuning keyframes)."""
    return np.stack([
        cv2.resize(
            np.ascontiguousarray(img),
            None,
            fx=SCALE,
            fy=SCALE,
            interpolation=cv2.INTER_CUBIC) for img in imgs
    ])


def resize_keyframes(imgs: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> ``[N, size[0], size[1], 3]`` with
    OpenCV's default (bilinear) interpolation (official frame-folder
    keyframes)."""
    return np.stack([
        cv2.resize(np.ascontiguousarray(img), (int(size[1]), int(size[0])))
        for img in imgs
    ])


def draw_window(h: int,
                w: int,
                crop_h: int,
                crop_w: int,
                train: bool,
                test_offset: str = 'center') -> Tuple[int, int, bool]:
    """``(x, y, flip)``: the crop's top row, left column and whether to
    flip, as the official loaders draw them (see the module doc)."""
    if train:
        x = random.randint(0, h - crop_h)
        y = random.randint(0, w - crop_w)
        return x, y, random.choice([False, False, True])
    if test_offset == 'center':
        return int((h - crop_h) / 2), int((w - crop_w) / 2), False
    return int(h / 18), int(w / 18), False


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')


def _split(imgs: np.ndarray, keyframes: np.ndarray, results: dict) -> dict:
    """Store the keyframes and the clips without their keyframe."""
    middle = (imgs.shape[1] - 1) // 2
    results['keyframes'] = np.ascontiguousarray(keyframes)
    results['frames'] = np.ascontiguousarray(np.delete(imgs, middle, axis=1))
    results.pop('imgs')
    results.pop('key_imgs', None)
    return results


def _native_keyframes(results: dict, transform: str) -> np.ndarray:
    if 'key_imgs' not in results:
        raise KeyError(
            f"{transform}(keyframe='high_res') needs the native keyframes "
            "'key_imgs': decode with high_res_keyframes=True "
            f'({describe_source(results)})')
    return results['key_imgs']


@TRANSFORMS.register_module()
class HDVILAResizeCrop(BaseTransform):
    """Resize (videos), crop and flip clips into keyframes and frames.

    Required keys: ``imgs`` (``uint8 [n_clips, num_frm, H, W, 3]``),
    ``key_imgs`` for ``keyframe='high_res'``. Added keys: ``keyframes``
    (``uint8 [n_clips, 4 crop_h, 4 crop_w, 3]``), ``frames`` (``uint8
    [n_clips, num_frm - 1, crop_h, crop_w, 3]``), ``crop_box`` (``(x, y,
    crop_h, crop_w)`` on the low-resolution frames), ``flip``; ``imgs`` and
    ``key_imgs`` are removed.

    Args:
        crop_size (Sequence[int]): ``(crop_h, crop_w)`` (official
            ``(160, 256)``).
        train (bool): random window and flip (official ``is_train``).
        resize_size (Sequence[int], optional): ``(h, w)`` of the
            low-resolution frames (official ``(180, 288)``); None keeps the
            decoded size (frame folders).
        keyframe (str): ``'upsample'`` or ``'high_res'`` (see the module
            doc).
        test_offset (str): ``'center'`` (videos) or ``'ninth'`` (frame
            folders: ``(int(h / 18), int(w / 18))``).

    Raises:
        ValueError: the crop does not fit the frames (names the record).
    """

    def __init__(self,
                 crop_size: Sequence[int],
                 train: bool,
                 resize_size: Optional[Sequence[int]] = (180, 288),
                 keyframe: str = 'upsample',
                 test_offset: str = 'center') -> None:
        _check_choice('keyframe', keyframe, KEYFRAMES)
        _check_choice('test_offset', test_offset, TEST_OFFSETS)
        self.crop_size = tuple(int(s) for s in crop_size)
        self.resize_size = (None if resize_size is None else tuple(
            int(s) for s in resize_size))
        self.train = train
        self.keyframe = keyframe
        self.test_offset = test_offset

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        n_clips, num_frm = imgs.shape[:2]
        flat = imgs.reshape(-1, *imgs.shape[2:])
        if self.resize_size is not None:
            flat = resize_nearest(flat, self.resize_size)
        h, w = flat.shape[1:3]
        crop_h, crop_w = self.crop_size
        key = None
        if self.keyframe == 'high_res':
            key = resize_keyframes(
                _native_keyframes(results,
                                  type(self).__name__), (SCALE * h, SCALE * w))
        x, y, flip = draw_window(h, w, crop_h, crop_w, self.train,
                                 self.test_offset)
        if x < 0 or y < 0 or x + crop_h > h or y + crop_w > w:
            raise ValueError(
                f'{describe_source(results)}: a {crop_h}x{crop_w} crop at '
                f'({x}, {y}) does not fit its {h}x{w} low-resolution frames')
        if flip:
            flat = flat[:, :, ::-1]
            key = None if key is None else key[:, :, ::-1]
        flat = flat[:, x:x + crop_h, y:y + crop_w]
        clips = flat.reshape(n_clips, num_frm, crop_h, crop_w, 3)
        if key is None:
            key = upsample_keyframes(clips[:, (num_frm - 1) // 2])
        else:
            key = key[:, SCALE * x:SCALE * (x + crop_h),
                      SCALE * y:SCALE * (y + crop_w)]
        results['crop_box'] = (x, y, crop_h, crop_w)
        results['flip'] = flip
        return _split(clips, key, results)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'train={self.train}, resize_size={self.resize_size}, '
                f'keyframe={self.keyframe!r}, '
                f'test_offset={self.test_offset!r})')


@TRANSFORMS.register_module()
class HDVILAFitPad(BaseTransform):
    """Fit and pad clips to a square, flip, and make keyframes (official
    TGIF-QA loader).

    Required keys: ``imgs`` (``uint8 [n_clips, num_frm, H, W, 3]``),
    ``key_imgs`` for ``keyframe='high_res'``. Added keys: ``keyframes``
    (``uint8 [n_clips, 4 max_size, 4 max_size, 3]``), ``frames`` (``uint8
    [n_clips, num_frm - 1, max_size, max_size, 3]``), ``flip``; ``imgs``
    and ``key_imgs`` are removed.

    Args:
        max_size (int): side of the square frames (official
            ``max_img_size``: 192 for TGIF).
        train (bool): random flip (official ``is_train``).
        pad_value (int): padding grey level (official ``int(255 / 2)`` when
            the config sets ``pad_value``, as the TGIF configs do).
        keyframe (str): ``'upsample'`` or ``'high_res'``.
    """

    def __init__(self,
                 max_size: int,
                 train: bool,
                 pad_value: int = 127,
                 keyframe: str = 'upsample') -> None:
        _check_choice('keyframe', keyframe, KEYFRAMES)
        if not 0 <= pad_value <= 255:
            raise ValueError(f'pad_value must be in [0, 255], got '
                             f'{pad_value}')
        self.max_size = int(max_size)
        self.train = train
        self.pad_value = int(pad_value)
        self.keyframe = keyframe

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        n_clips, num_frm = imgs.shape[:2]
        size = self.max_size
        flat = fit_pad(imgs.reshape(-1, *imgs.shape[2:]), size, self.pad_value)
        key = None
        if self.keyframe == 'high_res':
            key = fit_pad(
                _native_keyframes(results,
                                  type(self).__name__), SCALE * size,
                self.pad_value)
        _, _, flip = draw_window(size, size, size, size, self.train)
        if flip:
            flat = flat[:, :, ::-1]
            key = None if key is None else key[:, :, ::-1]
        clips = flat.reshape(n_clips, num_frm, size, size, 3)
        if key is None:
            key = upsample_keyframes(clips[:, (num_frm - 1) // 2])
        results['flip'] = flip
        return _split(clips, key, results)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_size={self.max_size}, '
                f'train={self.train}, pad_value={self.pad_value}, '
                f'keyframe={self.keyframe!r})')
