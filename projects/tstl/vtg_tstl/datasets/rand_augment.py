"""RandAugment for a clip: one draw of ops and magnitudes, every frame.

TSTL's training loaders (``_aug_frame`` in ``dataset/ssv2.py`` /
``kinetics.py``, from SlowFast / VideoMAE) apply timm's RandAugment policy
``rand-m7-n4-mstd0.5-inc1`` to the decoded frames before the random resized
crop, drawing the ops and their magnitudes once per clip:

- ``num_ops`` ops drawn uniformly with replacement (``np.random.choice``)
  from the 15-op set (the ``inc1`` set has magnitudes that increase the
  distortion);
- each op is skipped with probability ``1 - op_prob`` (``random.random()``),
  its magnitude is ``random.gauss(magnitude, magnitude_std)`` clipped to
  ``[0, 10]``, and signed ops flip their sign with probability 0.5;
- geometric ops fill with grey 128 and resample bicubically.

The draws use ``random`` and ``np.random`` in the official order. Frames are
``results['imgs']``, a list of ``H x W x 3`` uint8 RGB arrays.
"""
import random
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image, ImageEnhance, ImageOps

from vtg_plugins.registry import TRANSFORMS

MAX_LEVEL = 10.0
Op = Tuple[str, tuple]

INCREASING_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate',
                  'PosterizeIncreasing', 'SolarizeIncreasing', 'SolarizeAdd',
                  'ColorIncreasing', 'ContrastIncreasing',
                  'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX',
                  'ShearY', 'TranslateXRel', 'TranslateYRel')
STANDARD_OPS = ('AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize',
                'Solarize', 'SolarizeAdd', 'Color', 'Contrast', 'Brightness',
                'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel',
                'TranslateYRel')
RESAMPLE = {
    'nearest': Image.Resampling.NEAREST,
    'bilinear': Image.Resampling.BILINEAR,
    'bicubic': Image.Resampling.BICUBIC
}
ENHANCERS = {
    'Color': ImageEnhance.Color,
    'Contrast': ImageEnhance.Contrast,
    'Brightness': ImageEnhance.Brightness,
    'Sharpness': ImageEnhance.Sharpness
}


def _signed(value: float) -> float:
    """``-value`` with probability 0.5 (``random.random() > 0.5``)."""
    return -value if random.random() > 0.5 else value


def op_arguments(name: str, level: float, translate_pct: float) -> tuple:
    """The op's arguments at ``level`` in ``[0, 10]`` (timm's maps); signed
    ops draw their sign here."""
    frac = level / MAX_LEVEL
    base = name[:-len('Increasing')] if name.endswith('Increasing') else name
    increasing = base != name
    if base in ('AutoContrast', 'Equalize', 'Invert'):
        return ()
    if base == 'Rotate':
        return (_signed(frac * 30.0), )
    if base == 'Posterize':  # bits kept: 0..4, or 4..0 when increasing
        bits = int(frac * 4)
        return (4 - bits if increasing else bits, )
    if base == 'Solarize':  # threshold 0..256, or 256..0 when increasing
        thresh = int(frac * 256)
        return (256 - thresh if increasing else thresh, )
    if base == 'SolarizeAdd':
        return (int(frac * 110), )
    if base in ENHANCERS:  # factor 0.1..1.9, or 1 -/+ 0..0.9
        return ((1.0 + _signed(frac * 0.9)) if increasing else
                (frac * 1.8 + 0.1), )
    if base in ('ShearX', 'ShearY'):
        return (_signed(frac * 0.3), )
    if base in ('TranslateXRel', 'TranslateYRel'):
        return (_signed(frac * translate_pct), )
    raise ValueError(f'unknown RandAugment op {name!r}')


def _posterize(img: Image.Image, bits: int) -> Image.Image:
    """Keep the ``bits`` high bits of each channel (0 bits: black, which
    PIL's ``ImageOps.posterize`` refuses)."""
    mask = ~(2**(8 - bits) - 1) & 0xFF
    return img.point([v & mask for v in range(256)] * len(img.getbands()))


def _solarize_add(img: Image.Image, add: int, thresh: int = 128):
    lut = [min(255, v + add) if v < thresh else v for v in range(256)]
    return img.point(lut * len(img.getbands()))


def _affine(img: Image.Image, coeffs: Sequence[float], fill, resample):
    return img.transform(
        img.size,
        Image.Transform.AFFINE,
        tuple(coeffs),
        resample=resample,
        fillcolor=fill)


def apply_op(img: Image.Image, name: str, args: tuple, fill: tuple,
             resample: int) -> Image.Image:
    """Apply op ``name`` with ``args`` (from :func:`op_arguments`) to one
    PIL image."""
    base = name[:-len('Increasing')] if name.endswith('Increasing') else name
    simple: Dict[str, Callable] = {
        'AutoContrast': ImageOps.autocontrast,
        'Equalize': ImageOps.equalize,
        'Invert': ImageOps.invert
    }
    if base in simple:
        return simple[base](img)
    (value, ) = args
    if base == 'Rotate':
        return img.rotate(value, resample=resample, fillcolor=fill)
    if base == 'Posterize':
        return img if value >= 8 else _posterize(img, value)
    if base == 'Solarize':
        return ImageOps.solarize(img, value)
    if base == 'SolarizeAdd':
        return _solarize_add(img, value)
    if base in ENHANCERS:
        return ENHANCERS[base](img).enhance(value)
    width, height = img.size
    coeffs = {
        'ShearX': (1, value, 0, 0, 1, 0),
        'ShearY': (1, 0, 0, value, 1, 0),
        'TranslateXRel': (1, 0, value * width, 0, 1, 0),
        'TranslateYRel': (1, 0, 0, 0, 1, value * height)
    }
    if base not in coeffs:
        raise ValueError(f'unknown RandAugment op {name!r}')
    return _affine(img, coeffs[base], fill, resample)


@TRANSFORMS.register_module()
class VideoRandAugment(BaseTransform):
    """RandAugment with one draw per clip (official TSTL / VideoMAE).

    The defaults are the official ``rand-m7-n4-mstd0.5-inc1`` with bicubic
    resampling (``--train_interpolation bicubic``).

    Required keys: ``imgs`` (list of ``H x W x 3`` uint8 arrays).
    Modified keys: ``imgs``.

    Args:
        magnitude (float): mean magnitude ``m`` in ``[0, 10]``.
        num_ops (int): ops drawn per clip ``n``.
        magnitude_std (float): std of the magnitude noise ``mstd``; 0 keeps
            it fixed.
        increasing (bool): the ``inc1`` op set.
        op_prob (float): probability that a drawn op is applied.
        interpolation (str): ``'bicubic'``, ``'bilinear'`` or ``'nearest'``.
        fill (tuple): RGB fill of geometric ops.
        translate_pct (float): translation at magnitude 10, as a fraction of
            the frame side.
    """

    def __init__(self,
                 magnitude: float = 7,
                 num_ops: int = 4,
                 magnitude_std: float = 0.5,
                 increasing: bool = True,
                 op_prob: float = 0.5,
                 interpolation: str = 'bicubic',
                 fill: Tuple[int, int, int] = (128, 128, 128),
                 translate_pct: float = 0.45) -> None:
        if not 0 <= magnitude <= MAX_LEVEL:
            raise ValueError(f'magnitude must be in [0, 10], got {magnitude}')
        if interpolation not in RESAMPLE:
            raise ValueError(f'interpolation must be one of {list(RESAMPLE)}'
                             f', got {interpolation!r}')
        self.magnitude = magnitude
        self.num_ops = num_ops
        self.magnitude_std = magnitude_std
        self.op_names = INCREASING_OPS if increasing else STANDARD_OPS
        self.op_prob = op_prob
        self.resample = RESAMPLE[interpolation]
        self.fill = tuple(fill)
        self.translate_pct = translate_pct

    def draw(self) -> List[Op]:
        """The ops for one clip, as ``(name, args)``, skipped ones left out:
        ``np.random`` picks the ops, then per op ``random`` decides whether
        it applies, its magnitude and its sign."""
        picks = np.random.choice(len(self.op_names), self.num_ops)
        ops = []
        for index in picks:
            if self.op_prob < 1.0 and random.random() > self.op_prob:
                continue
            level = self.magnitude
            if self.magnitude_std > 0:
                level = random.gauss(level, self.magnitude_std)
            level = min(MAX_LEVEL, max(0.0, level))
            name = self.op_names[index]
            ops.append((name, op_arguments(name, level, self.translate_pct)))
        return ops

    def apply(self, frames: Sequence[np.ndarray],
              ops: Sequence[Op]) -> List[np.ndarray]:
        """Apply ``ops`` in order to every frame."""
        out = []
        for frame in frames:
            img = Image.fromarray(frame)
            for name, args in ops:
                img = apply_op(img, name, args, self.fill, self.resample)
            out.append(np.array(img))
        return out

    def transform(self, results: dict) -> dict:
        frames = results['imgs']
        for index, frame in enumerate(frames):
            if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                    and frame.ndim == 3 and frame.shape[2] == 3):
                what = (f'{frame.dtype} {frame.shape}' if isinstance(
                    frame, np.ndarray) else type(frame).__name__)
                raise ValueError(
                    f'VideoRandAugment: {results.get("filename", "clip")} '
                    f'frame {index} must be an HxWx3 uint8 array, got {what}')
        results['imgs'] = self.apply(frames, self.draw())
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(magnitude={self.magnitude}, '
                f'num_ops={self.num_ops}, '
                f'magnitude_std={self.magnitude_std}, '
                f'op_names={self.op_names}, op_prob={self.op_prob})')
