"""MMPT's HowTo100M clip samplers (``TextClipSamplingProcessor``,
``VideoClipSamplingProcessor``, ``OverlappedAligner``, ``VariedLenAligner``).

The oracles below restate the official procedures step by step as read in
yyuncong/TempCLR ``processors/how2processor.py`` (a deque of caption
indices, the ``keep_prob`` skip test evaluated before its bounds check, the
aligners' draw order). Each comparison runs both from generators in the
same state and checks the results and that the generators end in the same
state (so the number and order of draws match too).
"""
import math
import random
from collections import deque

import pytest

from vtg_tempclr.datasets.clip_sampling import (
    Captions, ClipWindow, grow_caption_run, grow_video_window,
    sample_aligned_clip, sample_overlapped_clip, sort_clips)


# --- oracles (official procedure, keep_prob = 1) -----------------------------
def oracle_text_clip(rng,
                     starts,
                     ends,
                     caps,
                     center,
                     max_text_len,
                     keep_prob=1.0,
                     max_video_len=256):
    n = len(starts)
    start_idx, end_idx = center, center + 1
    idx = deque([start_idx])
    text_len = len(caps[start_idx])
    video_len = max(0, ends[start_idx] - starts[start_idx])
    while ((start_idx > 0 or end_idx < n) and text_len < max_text_len
           and video_len < max_video_len):
        if rng.random() > 0.5 and end_idx < n:
            if rng.random() > keep_prob and (end_idx + 1) < n:
                end_idx = end_idx + 1
            idx.append(end_idx)
            text_len += len(caps[end_idx])
            end_idx += 1
        elif start_idx > 0:
            if rng.random() > keep_prob and (start_idx - 1) > 0:
                start_idx = start_idx - 1
            start_idx -= 1
            idx.insert(0, start_idx)
            text_len += len(caps[start_idx])
        else:
            if end_idx < n:
                if rng.random() > keep_prob and (end_idx + 1) < n:
                    end_idx = end_idx + 1
                idx.append(end_idx)
                text_len += len(caps[end_idx])
                end_idx += 1
            else:
                return list(idx)
        video_len = max(0, ends[idx[-1]] - starts[idx[0]])
    return list(idx)


def oracle_video_clip(rng, video_len, max_video_len, center):
    assert 0 <= center < video_len
    t_clip_len = 0
    start, end = center, center
    while (start > 0 or end < video_len) and t_clip_len < max_video_len:
        if start <= 0:
            end += 1
        elif end >= video_len:
            start -= 1
        elif rng.random() > 0.5:
            end += 1
        else:
            start -= 1
        t_clip_len += 1
    return start, end


def oracle_overlapped(rng,
                      starts,
                      ends,
                      caps,
                      num_frames,
                      tmin=8,
                      tmax=64,
                      vmin=3,
                      vmax=32):
    center_caption = rng.randint(0, len(starts) - 1)
    max_text_len = rng.randint(tmin, tmax)
    idx = oracle_text_clip(rng, starts, ends, caps, center_caption,
                           max_text_len)
    low = math.floor(starts[idx[0]])
    high = math.ceil(ends[idx[-1]])
    if low < high:
        center = rng.randint(low, high)
    else:
        center = int((low + high) // 2)
    center = max(0, min(num_frames - 1, center))
    max_video = rng.randint(vmin, vmax)
    vs, ve = oracle_video_clip(rng, num_frames, max_video, center)
    return idx[0], idx[-1] + 1, vs, ve


def oracle_aligned(rng, starts, ends, caps, num_frames, tmin=8, tmax=64):
    center_caption = rng.randint(0, len(starts) - 1)
    max_text_len = rng.randint(tmin, tmax)
    idx = oracle_text_clip(rng, starts, ends, caps, center_caption,
                           max_text_len)
    video_end = min(math.ceil(ends[idx[-1]]), num_frames)
    video_start = max(min(math.floor(starts[idx[0]]), video_end), 0)
    return idx[0], idx[-1] + 1, video_start, video_end


# --- random videos -----------------------------------------------------------
def random_video(gen):
    """Caption times (sorted, sometimes overlapping, sometimes past the
    end of the features), token lists and a feature length."""
    n = gen.randint(1, 12)
    t = 0.0
    starts, ends, caps = [], [], []
    for _ in range(n):
        t += gen.uniform(0, 6)
        starts.append(round(t, 2))
        ends.append(round(t + gen.uniform(0, 9), 2))
        caps.append([gen.randint(5, 99) for _ in range(gen.randint(1, 20))])
    num_frames = max(1, int(max(ends)) + gen.randint(-3, 3))
    return starts, ends, caps, num_frames


def _captions(starts, ends, caps):
    return Captions(starts, ends, [len(c) for c in caps])


def _twin(seed):
    return random.Random(seed), random.Random(seed)


def test_caption_run_matches_official_procedure():
    gen = random.Random(0)
    for trial in range(400):
        starts, ends, caps, _ = random_video(gen)
        center = gen.randint(0, len(starts) - 1)
        budget = gen.randint(1, 70)
        ours, ref = _twin(trial)
        first, stop = grow_caption_run(
            _captions(starts, ends, caps), center, budget, ours)
        idx = oracle_text_clip(ref, starts, ends, caps, center, budget)
        assert list(range(first, stop)) == idx
        assert ours.getstate() == ref.getstate()


def test_caption_run_respects_the_span_bound():
    starts = [0.0, 100.0, 200.0, 300.0]
    ends = [90.0, 190.0, 290.0, 390.0]
    caps = [[7]] * 4
    for seed in range(20):
        ours, ref = _twin(seed)
        first, stop = grow_caption_run(
            _captions(starts, ends, caps), 1, 64, ours)
        assert ends[stop - 1] - starts[first] >= 256 or (first, stop) == (0, 4)
        assert list(range(first,
                          stop)) == oracle_text_clip(ref, starts, ends, caps,
                                                     1, 64)


def test_one_caption_is_taken_alone_without_drawing():
    rng = random.Random(5)
    state = rng.getstate()
    assert grow_caption_run(Captions([3.0], [7.0], [4]), 0, 64, rng) == (0, 1)
    assert rng.getstate() == state


def test_caption_longer_than_the_budget_stays_alone():
    rng = random.Random(5)
    state = rng.getstate()
    captions = Captions([0.0, 2.0, 4.0], [2.0, 4.0, 6.0], [3, 70, 3])
    assert grow_caption_run(captions, 1, 64, rng) == (1, 2)
    assert rng.getstate() == state
    with pytest.raises(ValueError, match='centre caption 3'):
        grow_caption_run(captions, 3, 64, rng)


def test_video_window_matches_official_procedure():
    gen = random.Random(1)
    for trial in range(400):
        num_frames = gen.randint(1, 60)
        max_frames = gen.randint(1, 40)
        center = gen.randint(0, num_frames - 1)
        ours, ref = _twin(trial)
        window = grow_video_window(num_frames, max_frames, center, ours)
        assert window == oracle_video_clip(ref, num_frames, max_frames, center)
        assert ours.getstate() == ref.getstate()
        start, end = window
        assert 0 <= start <= end <= num_frames
        assert end - start == min(max_frames, num_frames)


def test_video_shorter_than_the_window_gives_the_whole_video():
    for center in range(5):
        assert grow_video_window(5, 32, center, random.Random(center)) == \
            (0, 5)
    with pytest.raises(ValueError, match='outside the video'):
        grow_video_window(5, 32, 5, random.Random(0))


def test_overlapped_clip_matches_official_aligner():
    gen = random.Random(2)
    for trial in range(300):
        starts, ends, caps, num_frames = random_video(gen)
        ours, ref = _twin(trial)
        clip = sample_overlapped_clip(
            _captions(starts, ends, caps), num_frames, ours)
        assert tuple(clip) == oracle_overlapped(ref, starts, ends, caps,
                                                num_frames)
        assert ours.getstate() == ref.getstate()
        assert 0 <= clip.video_start < clip.video_end <= num_frames
        assert 3 <= clip.video_end - clip.video_start <= 32 or \
            clip.video_end - clip.video_start == num_frames


def test_overlapped_clip_uses_the_given_ranges():
    gen = random.Random(3)
    for trial in range(100):
        starts, ends, caps, num_frames = random_video(gen)
        ours, ref = _twin(trial)
        clip = sample_overlapped_clip(
            _captions(starts, ends, caps), num_frames, ours, (2, 5), (1, 4))
        assert tuple(clip) == oracle_overlapped(ref, starts, ends, caps,
                                                num_frames, 2, 5, 1, 4)


def test_aligned_clip_matches_official_aligner():
    gen = random.Random(4)
    for trial in range(300):
        starts, ends, caps, num_frames = random_video(gen)
        ours, ref = _twin(trial)
        clip = sample_aligned_clip(
            _captions(starts, ends, caps), num_frames, ours)
        assert tuple(clip) == oracle_aligned(ref, starts, ends, caps,
                                             num_frames)
        assert ours.getstate() == ref.getstate()


def test_aligned_clip_past_the_features_is_empty_at_the_end():
    """A caption that starts after the last feature step gives an empty
    window at ``T`` (MMPT clips both bounds to the video)."""
    captions = Captions([12.4], [13.0], [3])
    clip = sample_aligned_clip(captions, 10, random.Random(0))
    assert clip == ClipWindow(0, 1, 10, 10)


def test_sort_clips_uses_the_official_key():
    clips = [
        ClipWindow(1, 3, 0, 5),
        ClipWindow(0, 2, 4, 9),
        ClipWindow(0, 1, 4, 6),
        ClipWindow(0, 4, 2, 3)
    ]
    assert sort_clips(clips) == [
        ClipWindow(0, 4, 2, 3),
        ClipWindow(0, 1, 4, 6),
        ClipWindow(0, 2, 4, 9),
        ClipWindow(1, 3, 0, 5)
    ]
