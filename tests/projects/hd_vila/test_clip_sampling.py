"""HD-VILA clip sampling against the official ``get_sample_idx`` rule, with
expected indices worked out by hand from the rule (see each case)."""
import random

import numpy as np
import pytest

from vtg_hd_vila.datasets.clip_sampling import (SampleHDVILAClips,
                                                sample_clip_indices)
from vtg_plugins.features.frames import ShortVideoError


def clips(middles, num_frm, rate):
    """Frames of clips around ``middles``: ``m - r*rate .. m + r*rate``."""
    r = (num_frm - 1) // 2
    return [[m + k * rate for k in range(-r, r + 1)] for m in middles]


@pytest.mark.parametrize(
    'total, n_clips, num_frm, rate, middles, used_rate',
    [
        # long video: candidates [12, 88) (76), step int(76 / 4) = 19
        (100, 4, 7, 4, [12, 31, 50, 69], 4),
        # 10 s at 6 fps: candidates [12, 48) (36), step 9
        (60, 4, 7, 4, [12, 21, 30, 39], 4),
        # candidates [12, 18) (6), step int(6 / 4) = 1, first 4 kept
        (30, 4, 7, 4, [12, 13, 14, 15], 4),
        # exactly 2 r rate + n_clips frames: no fallback, [12, 14)
        (26, 2, 7, 4, [12, 13], 4),
        # one frame less: rate floor(23 / 6) = 3, [9, 16) (7), step 3
        (25, 2, 7, 4, [9, 12], 3),
        # short: rate floor((20 - 2) / 6) = 3, candidates [9, 11)
        (20, 2, 7, 4, [9, 10], 3),
        # DiDeMo (11 frames, rate 2, 8 clips) on 40 frames: [10, 30) (20),
        # step int(20 / 8) = 2
        (40, 8, 11, 2, [10, 12, 14, 16, 18, 20, 22, 24], 2),
        # a single frame per clip: candidates [0, 5), step 1
        (5, 5, 1, 4, [0, 1, 2, 3, 4], 4),
    ])
def test_inference_clips_are_evenly_spaced(total, n_clips, num_frm, rate,
                                           middles, used_rate):
    out = sample_clip_indices(total, n_clips, num_frm, rate, False)
    assert out.middle.tolist() == middles
    assert out.sample_rate == used_rate
    assert out.frames.tolist() == clips(middles, num_frm, used_rate)
    assert out.frames.min() >= 0 and out.frames.max() < total


def test_rate_zero_repeats_the_middle_frame():
    # 7 frames, 4 clips of 7: rate floor((7 - 4) / 6) = 0, candidates
    # [0, 7), step int(7 / 4) = 1
    out = sample_clip_indices(7, 4, 7, 4, False)
    assert out.sample_rate == 0
    assert out.middle.tolist() == [0, 1, 2, 3]
    assert out.frames.tolist() == [[m] * 7 for m in range(4)]


def test_fewer_frames_than_clips_is_refused():
    with pytest.raises(
            ShortVideoError, match='3 frames, fewer than the '
            'n_clips=4'):
        sample_clip_indices(3, 4, 7, 4, True)


@pytest.mark.parametrize('seed', [0, 1, 7])
def test_training_draws_as_random_sample(seed):
    # official: random.sample(list(range(12, 88)), 4), then sorted
    expected = sorted(random.Random(seed).sample(list(range(12, 88)), 4))
    out = sample_clip_indices(100, 4, 7, 4, True, random.Random(seed))
    assert out.middle.tolist() == expected
    assert out.frames.tolist() == clips(expected, 7, 4)
    # the random module by default (seeded as an official run)
    random.seed(seed)
    assert sample_clip_indices(100, 4, 7, 4, True).middle.tolist() == expected


def test_training_draws_cover_the_candidates():
    rng = random.Random(3)
    seen = set()
    for _ in range(200):
        middle = sample_clip_indices(30, 2, 7, 4, True, rng).middle
        assert middle[0] < middle[1]  # distinct and sorted
        seen.update(middle.tolist())
    assert seen == set(range(12, 18))


def test_transform_writes_the_indices():
    t = SampleHDVILAClips(
        n_clips=4, num_frm=7, sample_rate=4, random_clips=False)
    out = t(dict(total_frames=60, filename='v.mp4'))
    assert out['middle_inds'].tolist() == [12, 21, 30, 39]
    assert out['frame_inds'].shape == (4, 7)
    assert out['frame_inds'][:, 3].tolist() == [12, 21, 30, 39]
    assert (out['num_clips'], out['num_frm'], out['sample_rate']) == (4, 7, 4)
    assert out['frame_inds'].dtype == np.int64


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_frm=6), 'num_frm must be odd'),
    (dict(n_clips=0), 'n_clips must be a positive integer'),
    (dict(sample_rate=0), 'sample_rate must be a positive integer'),
])
def test_bad_arguments(kwargs, match):
    args = dict(n_clips=2, num_frm=7, sample_rate=4, random_clips=True)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SampleHDVILAClips(**args)
