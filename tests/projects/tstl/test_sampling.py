"""Frame indices and test crops of the TSTL transforms against the official
formulas (TSTL's ``dataset/ssv2.py``, ``epic.py``, ``kinetics.py``),
written out here by hand for several video lengths, including the lengths
where the official code repeats or clamps frames."""
import numpy as np
import pytest

import vtg_tstl  # noqa: F401
from vtg_plugins.features.frames import ShortVideoError
from vtg_plugins.registry import TRANSFORMS
from vtg_tstl.datasets import (DenseSampleFrames, SegmentSampleFrames,
                               ShortSideResize, UniformThreeCrop)

DRAWS = 400


def _results(num_frames):
    return dict(total_frames=num_frames, filename='v.mp4',
                ann_file='list.csv', line=7)


def _inds(transform, num_frames):
    return transform(_results(num_frames))['frame_inds'].tolist()


# --- SSv2 / EPIC: segment sampling -----------------------------------------

def _official_two_views(num_frames, segments=16):
    """The official test: the frames ``int(tick / 2 + tick * x)`` and
    ``int(tick * x)``, sorted together; view k takes every other one from
    position k."""
    tick = num_frames / segments
    merged = sorted([int(tick / 2.0 + tick * x) for x in range(segments)] +
                    [int(tick * x) for x in range(segments)])
    return merged[0::2] + merged[1::2]


@pytest.mark.parametrize('num_frames', [16, 17, 31, 40, 50, 117, 1000])
def test_segment_test_views_are_the_official_two_views(num_frames):
    t = SegmentSampleFrames(num_segments=16, num_clips=2, test_mode=True)
    out = t(_results(num_frames))
    assert out['frame_inds'].tolist() == _official_two_views(num_frames)
    assert out['frame_inds'].dtype == np.int64
    assert (out['clip_len'], out['num_clips']) == (16, 2)


def test_segment_test_views_literal():
    # 40 frames: tick 2.5, view 0 = int(2.5 x), view 1 = int(1.25 + 2.5 x)
    inds = _inds(SegmentSampleFrames(16, 2, test_mode=True), 40)
    assert inds[:16] == [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32,
                         35, 37]
    assert inds[16:] == [1, 3, 6, 8, 11, 13, 16, 18, 21, 23, 26, 28, 31, 33,
                         36, 38]


def test_segment_test_short_video_repeats_as_official_only_when_allowed():
    with pytest.raises(ShortVideoError) as err:
        _inds(SegmentSampleFrames(16, 2, test_mode=True), 10)
    assert 'v.mp4 (list.csv line 7) has 10 frames' in str(err.value)
    assert 'at least 16' in str(err.value)
    allowed = SegmentSampleFrames(16, 2, test_mode=True, allow_short=True)
    assert _inds(allowed, 10) == _official_two_views(10)
    assert len(set(_inds(allowed, 10)[:16])) < 16  # frames repeat


def test_segment_test_views_generalise_with_evenly_spaced_offsets():
    # UCF101's five views: offset k / 5 of a segment
    inds = np.array(_inds(SegmentSampleFrames(16, 5, test_mode=True), 181))
    tick = 181 / 16
    expected = [[int(tick * x + tick * k / 5) for x in range(16)]
                for k in range(5)]
    assert inds.reshape(5, 16).tolist() == expected
    assert len({tuple(v) for v in expected}) == 5


@pytest.mark.parametrize('num_frames', [16, 17, 40, 100, 250])
def test_segment_train_one_random_frame_per_segment(num_frames):
    np.random.seed(0)
    t = SegmentSampleFrames(num_segments=16)
    avg = num_frames // 16
    offsets = np.array([
        np.array(_inds(t, num_frames)) - avg * np.arange(16)
        for _ in range(DRAWS)
    ])
    # official: x * avg + randint(avg)
    assert offsets.min() >= 0 and offsets.max() <= avg - 1
    assert set(offsets.ravel().tolist()) == set(range(avg))


@pytest.mark.parametrize('num_frames, avg', [(181, 11), (100, 6)])
def test_ucf101_train_offsets_leave_the_interval_out(num_frames, avg):
    """UCF101: clip_len 1, 16 segments, rate 4: end = randint(4, avg), start
    = end - 4, so the offset is in [0, avg - 5]."""
    np.random.seed(0)
    t = SegmentSampleFrames(num_segments=16, end_margin=4)
    offsets = np.array([
        np.array(_inds(t, num_frames)) - avg * np.arange(16)
        for _ in range(DRAWS)
    ])
    assert set(offsets.ravel().tolist()) == set(range(avg - 4))


@pytest.mark.parametrize('num_frames, offset', [(64, 0), (79, 0), (53, 2),
                                                (35, 1), (16, 0)])
def test_ucf101_train_short_segments_as_official(num_frames, offset):
    """avg <= rate: linspace(0, avg, avg // 4) padded with avg and clipped to
    avg - 1 gives offset 0 when avg == 4, else avg - 1."""
    t = SegmentSampleFrames(num_segments=16, end_margin=4)
    avg = num_frames // 16
    assert _inds(t, num_frames) == [x * avg + offset for x in range(16)]


def test_segment_train_short_video():
    with pytest.raises(ShortVideoError, match='list.csv line 7'):
        _inds(SegmentSampleFrames(16), 15)
    np.random.seed(0)
    t = SegmentSampleFrames(16, allow_short=True)
    tick = 10 / 16
    for _ in range(50):
        inds = np.array(_inds(t, 10))
        lo = np.floor(tick * np.arange(16))
        hi = np.ceil(tick * np.arange(1, 17)) - 1
        assert ((inds >= lo) & (inds <= hi)).all() and inds.max() < 10


def test_training_samples_one_clip():
    with pytest.raises(ValueError, match='one clip'):
        SegmentSampleFrames(16, num_clips=2)
    with pytest.raises(ValueError, match='one clip'):
        DenseSampleFrames(16, 4, num_clips=5)


# --- K400: dense sampling ---------------------------------------------------

def _official_dense_train(start, span=64, clip_len=16):
    """linspace(start, start + span, clip_len), truncated, the last clipped
    to start + span - 1 (integer arithmetic)."""
    return [
        min(start + span * j // (clip_len - 1), start + span - 1)
        for j in range(clip_len)
    ]


@pytest.mark.parametrize('num_frames', [65, 66, 100, 300])
def test_dense_train_random_start(num_frames):
    np.random.seed(0)
    t = DenseSampleFrames(clip_len=16, frame_interval=4)
    starts = set()
    for _ in range(DRAWS):
        inds = _inds(t, num_frames)
        assert inds == _official_dense_train(inds[0])
        starts.add(inds[0])
    # end = randint(64, L) -> start in [0, L - 65]
    assert min(starts) == 0 and max(starts) <= num_frames - 65
    if num_frames - 64 <= 40:
        assert starts == set(range(num_frames - 64))


def test_dense_train_exact_length_and_short_video():
    t = DenseSampleFrames(16, 4)
    assert _inds(t, 64) == _official_dense_train(0)
    with pytest.raises(ShortVideoError) as err:
        _inds(t, 63)
    assert 'has 63 frames' in str(err.value) and 'at least 64' in str(
        err.value) and 'line 7' in str(err.value)
    # official for L < 64: linspace(0, L, L // 4), then L clipped to L - 1
    allowed = DenseSampleFrames(16, 4, allow_short=True)
    assert _inds(allowed, 40) == [0, 4, 8, 13, 17, 22, 26, 31, 35] + [39] * 7
    assert _inds(allowed, 3) == [2] * 16


def _official_dense_test(num_frames, views=5, clip_len=16, rate=4):
    """range(0, L, rate) padded with its last frame to clip_len; view k
    starts at int(k * max((m - clip_len) / (views - 1), 0))."""
    base = list(range(0, num_frames, rate))
    base += [base[-1]] * max(clip_len - len(base), 0)
    step = max((len(base) - clip_len) / (views - 1), 0)
    return [f for k in range(views)
            for f in base[int(k * step):int(k * step) + clip_len]]


@pytest.mark.parametrize('num_frames', [61, 64, 100, 101, 300, 1001])
def test_dense_test_views(num_frames):
    t = DenseSampleFrames(16, 4, num_clips=5, test_mode=True)
    out = t(_results(num_frames))
    assert out['frame_inds'].tolist() == _official_dense_test(num_frames)
    assert (out['clip_len'], out['num_clips'], out['frame_interval']) == (
        16, 5, 4)


def test_dense_test_literal_and_short_video():
    # 100 frames: 25 positions, step 9 / 4 -> starts 0, 2, 4, 6, 9
    inds = np.array(_inds(DenseSampleFrames(16, 4, 5, True), 100))
    assert (inds.reshape(5, 16)[:, 0] // 4).tolist() == [0, 2, 4, 6, 9]
    with pytest.raises(ShortVideoError, match='at least 61'):
        _inds(DenseSampleFrames(16, 4, 5, True), 60)
    allowed = DenseSampleFrames(16, 4, 5, True, allow_short=True)
    assert _inds(allowed, 50) == ([*range(0, 50, 4)] + [48] * 3) * 5
    # one view: centred (the official code divides by zero)
    assert _inds(DenseSampleFrames(16, 4, 1, True), 100)[0] == 4 * 4


# --- test crops -------------------------------------------------------------

def _coord_frames(h, w, n=2):
    """uint8 frames whose pixel (y, x) holds (y, x % 256, frame)."""
    img = np.zeros((n, h, w, 3), np.uint8)
    img[..., 0] = (np.arange(h) % 256)[None, :, None]
    img[..., 1] = (np.arange(w) % 256)[None, None, :]
    img[..., 2] = np.arange(n)[:, None, None]
    return list(img)


@pytest.mark.parametrize('h, w, axis, starts', [
    (224, 298, 'x', [0, 37, 74]),
    (224, 299, 'x', [0, 37, 75]),  # MMAction2's ThreeCrop: 0, 74, 37
    (300, 224, 'y', [0, 38, 76]),
    (224, 224, 'x', [0, 0, 0]),
])
def test_three_crops_official_positions_and_order(h, w, axis, starts):
    out = UniformThreeCrop(224)(dict(imgs=_coord_frames(h, w)))
    assert len(out['imgs']) == 6 and out['img_shape'] == (224, 224)
    for crop, start in enumerate(starts):
        for frame in range(2):
            img = out['imgs'][crop * 2 + frame]  # crop-major
            assert img.shape == (224, 224, 3) and img[0, 0, 2] == frame
            y, x = (0, start) if axis == 'x' else (start, 0)
            assert (img[0, 0, 0], img[0, 0, 1]) == (y, x)
    assert out['crop_bbox'][::2].tolist() == [
        [s, 0, s + 224, 224] if axis == 'x' else [0, s, 224, s + 224]
        for s in starts
    ]


def test_one_crop_is_the_official_centre_crop():
    # CenterCrop: int(round((299 - 224) / 2)) = round(37.5) = 38
    out = UniformThreeCrop(224, num_crops=1)(dict(imgs=_coord_frames(224,
                                                                     299)))
    assert out['imgs'][0][0, 0, 1] == 38
    out = UniformThreeCrop(32, num_crops=3)(dict(imgs=_coord_frames(40, 64)))
    assert out['imgs'][0][0, 0, 0] == 4  # short side centred


def test_crop_larger_than_frames_is_refused():
    with pytest.raises(ValueError, match='ShortSideResize'):
        UniformThreeCrop(224)(dict(imgs=_coord_frames(200, 300)))


@pytest.mark.parametrize('h, w, out_hw', [(240, 320, (224, 298)),
                                          (320, 240, (298, 224)),
                                          (224, 400, (224, 400)),
                                          (100, 100, (224, 224))])
def test_short_side_resize_truncates_the_long_side(h, w, out_hw):
    imgs = _coord_frames(h, w)
    out = ShortSideResize(224)(dict(imgs=imgs))
    assert out['img_shape'] == out_hw
    assert all(img.shape[:2] == out_hw for img in out['imgs'])
    if (h, w) == out_hw:
        assert all(a is b for a, b in zip(out['imgs'], imgs))
    if h > 255:
        return
    # bilinear: output row i samples input row (i + 0.5) * h / out_h - 0.5
    rows = out['imgs'][0][:, 0, 0].astype(float)
    centres = (np.arange(out_hw[0]) + 0.5) * h / out_hw[0] - 0.5
    inner = slice(2, -2)
    assert np.abs(rows[inner] - np.clip(centres, 0, h - 1)[inner]).max() \
        <= 1.0


def test_transforms_are_registered():
    for name in ('SegmentSampleFrames', 'DenseSampleFrames',
                 'ShortSideResize', 'UniformThreeCrop'):
        assert TRANSFORMS.get(name) is not None, name
    t = TRANSFORMS.build(dict(type='SegmentSampleFrames', num_clips=2,
                              test_mode=True))
    assert isinstance(t, SegmentSampleFrames)
