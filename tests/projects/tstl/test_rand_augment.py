"""VideoRandAugment: TSTL's rand-m7-n4-mstd0.5-inc1 with one draw per clip."""
import random

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

import vtg_tstl  # noqa: F401
from vtg_plugins.registry import TRANSFORMS
from vtg_tstl.datasets.rand_augment import (INCREASING_OPS, VideoRandAugment,
                                            apply_op, op_arguments)

FILL = (128, 128, 128)
BICUBIC = Image.Resampling.BICUBIC


def seed(value):
    random.seed(value)
    np.random.seed(value)


def frame(h=12, w=20, offset=0):
    rng = np.random.RandomState(offset)
    return rng.randint(0, 256, (h, w, 3)).astype(np.uint8)


def op(img, name, *args):
    return np.asarray(
        apply_op(Image.fromarray(img), name, args, FILL, BICUBIC)).astype(int)


def test_one_draw_for_every_frame_of_a_clip():
    a, b = frame(offset=1), frame(offset=2)
    aug = VideoRandAugment()
    for s in range(30):
        seed(s)
        ops = aug.draw()
        seed(s)
        out = aug.transform(dict(imgs=[a, a.copy(), b, a.copy()]))['imgs']
        assert all(o.dtype == np.uint8 and o.shape == a.shape for o in out)
        # equal frames stay equal; the other frame got the same ops
        assert np.array_equal(out[0], out[1])
        assert np.array_equal(out[0], out[3])
        assert np.array_equal(out[0], aug.apply([a], ops)[0])
        assert np.array_equal(out[2], aug.apply([b], ops)[0])


def test_draws_differ_across_seeds_and_repeat_under_a_seed():
    aug = VideoRandAugment()
    draws = []
    for s in range(20):
        seed(s)
        draws.append(repr(aug.draw()))
    assert len(set(draws)) >= 18  # 1 in 16 draws applies no op
    seed(4)
    first = aug.transform(dict(imgs=[frame()]))['imgs'][0]
    seed(4)
    assert np.array_equal(
        aug.transform(dict(imgs=[frame()]))['imgs'][0], first)


def test_op_set_counts_and_magnitude_ranges():
    aug = VideoRandAugment()
    assert aug.op_names == INCREASING_OPS and len(INCREASING_OPS) == 15
    seed(0)
    draws = [aug.draw() for _ in range(3000)]
    # each of the 4 drawn ops applies with probability 0.5
    assert np.mean([len(d) for d in draws]) == pytest.approx(2.0, abs=0.06)
    args = {}
    for name, value in (o for d in draws for o in d):
        args.setdefault(name, []).append(value)
    assert set(args) == set(INCREASING_OPS)  # uniform choice over all 15
    for name in ('AutoContrast', 'Equalize', 'Invert'):
        assert all(v == () for v in args[name])
    level = {}  # the magnitude read back from each op's argument
    level['Rotate'] = [abs(v[0]) / 30 * 10 for v in args['Rotate']]
    level['ShearX'] = [abs(v[0]) / 0.3 * 10 for v in args['ShearX']]
    level['TranslateYRel'] = [
        abs(v[0]) / 0.45 * 10 for v in args['TranslateYRel']
    ]
    level['ColorIncreasing'] = [
        abs(v[0] - 1) / 0.9 * 10 for v in args['ColorIncreasing']
    ]
    for name, values in level.items():
        assert 0 <= min(values) and max(values) <= 10, name
        # magnitude ~ N(7, 0.5)
        assert np.mean(values) == pytest.approx(7, abs=0.1), name
        assert np.std(values) == pytest.approx(0.5, abs=0.1), name
    # signed ops take both signs
    assert min(v[0] for v in args['Rotate']) < 0 < max(v[0]
                                                       for v in args['Rotate'])
    assert {v[0] for v in args['PosterizeIncreasing']} <= {1, 2, 3}
    assert all(0 <= v[0] <= 256 for v in args['SolarizeIncreasing'])
    assert all(0 <= v[0] <= 110 for v in args['SolarizeAdd'])


def test_level_to_argument_maps():
    seed(0)
    assert op_arguments('PosterizeIncreasing', 7, 0.45) == (2, )
    assert op_arguments('Posterize', 7, 0.45) == (2, )
    assert op_arguments('SolarizeIncreasing', 7, 0.45) == (256 - 179, )
    assert op_arguments('Solarize', 7, 0.45) == (179, )
    assert op_arguments('SolarizeAdd', 7, 0.45) == (77, )
    assert op_arguments('Contrast', 7, 0.45)[0] == pytest.approx(1.36)
    for name, size in (('Rotate', 21), ('ShearY', 0.21),
                       ('TranslateXRel', 0.315), ('ColorIncreasing', 0.63)):
        values = sorted({op_arguments(name, 7, 0.45)[0] for _ in range(50)})
        centre = 1.0 if name == 'ColorIncreasing' else 0.0
        assert values == pytest.approx([centre - size, centre + size]), name


def test_ops_against_hand_computation():
    img = frame(12, 20)
    x = img.astype(int)
    assert np.array_equal(op(img, 'Invert'), 255 - x)
    assert np.array_equal(
        op(img, 'SolarizeIncreasing', 100), np.where(x >= 100, 255 - x, x))
    assert np.array_equal(
        op(img, 'SolarizeAdd', 77),
        np.where(x < 128, np.minimum(x + 77, 255), x))
    assert np.array_equal(op(img, 'PosterizeIncreasing', 2), x & 0b11000000)
    assert np.array_equal(op(img, 'Posterize', 0), np.zeros_like(x))
    assert np.array_equal(op(img, 'Posterize', 8), x)
    # translate by 0.25 of the width (5 px) left: the right 5 columns fill
    shifted = np.full_like(x, 128)
    shifted[:, :15] = x[:, 5:]
    assert np.array_equal(op(img, 'TranslateXRel', 0.25), shifted)
    shifted = np.full_like(x, 128)
    shifted[3:] = x[:9]  # -0.25 of the height (3 px): content moves down
    assert np.array_equal(op(img, 'TranslateYRel', -0.25), shifted)
    assert np.abs(op(img, 'BrightnessIncreasing', 0.5) - x * 0.5).max() <= 1
    grey = np.repeat(img[..., :1], 3, axis=2)  # R = G = B: luminance = value
    g = grey.astype(int)
    mean = int(g[..., 0].mean() + 0.5)
    expected = np.clip(mean + 1.5 * (g - mean), 0, 255)
    assert np.abs(op(grey, 'ContrastIncreasing', 1.5) - expected).max() <= 1
    assert np.array_equal(op(grey, 'Color', 0.3), g)  # no colour to change
    low, high = g.min(), g.max()
    stretched = (g - low) * 255.0 / (high - low)
    assert np.abs(op(grey, 'AutoContrast') - stretched).max() <= 1
    # a vertical shear of 0.5 (nearest, PIL samples at pixel centres):
    # out[r, c] = in[floor(r + 0.5 + 0.5 (c + 0.5)), c], grey outside
    sheared = np.asarray(
        apply_op(
            Image.fromarray(img), 'ShearY', (0.5, ), FILL,
            Image.Resampling.NEAREST)).astype(int)
    expected = np.full_like(x, 128)
    for r in range(12):
        for c in range(20):
            src = int(np.floor(r + 0.5 + 0.5 * (c + 0.5)))
            if src < 12:
                expected[r, c] = x[src, c]
    assert np.array_equal(sheared, expected)


def test_pipeline_build_and_bad_frames():
    init_default_scope('vtg_plugins')
    aug = TRANSFORMS.build(
        dict(
            type='VideoRandAugment', magnitude=9, num_ops=2, increasing=False))
    assert isinstance(aug, VideoRandAugment) and 'Posterize' in aug.op_names
    seed(0)
    out = aug(dict(imgs=[frame(), frame()], filename='v.mp4'))
    assert len(out['imgs']) == 2 and out['imgs'][0].flags.writeable
    with pytest.raises(
            ValueError,
            match=r'v\.mp4 frame 1 must be an HxWx3 '
            r'uint8 array, got float32'):
        aug(dict(imgs=[frame(), frame().astype(np.float32)], filename='v.mp4'))
    with pytest.raises(ValueError, match='magnitude'):
        VideoRandAugment(magnitude=11)
