"""vtg_plugins.testing.action_videos: tiny labelled videos in the official
``<video> <label>`` list layout, with classes told apart by colour and by
direction of motion."""
import av
import numpy as np

from vtg_plugins.testing.action_videos import (action_frames, class_colour,
                                               make_action_videos)


def _decode(path):
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format='rgb24')
                         for f in container.decode(video=0)])


def test_lists_follow_the_official_layout(tmp_path):
    data = make_action_videos(tmp_path, splits=dict(train=2, val=1),
                              num_classes=3, num_frames=8,
                              extra_labels=dict(noun=2, verb=3))
    lines = open(data.lists['train']).read().splitlines()
    assert len(lines) == 6 and data.labels['train'] == [0, 1, 2] * 2
    name, label, noun, verb = lines[4].split(' ')
    assert (int(label), int(noun), int(verb)) == (1, 1, 1)
    assert (tmp_path / 'videos' / name).is_file()
    assert data.columns == ['video', 'label', 'noun', 'verb']
    assert len(open(data.lists['val']).read().splitlines()) == 3


def test_videos_decode_to_the_written_frames(tmp_path):
    data = make_action_videos(tmp_path, splits=dict(train=1), num_classes=2,
                              num_frames=8, size=(32, 40), seed=3)
    frames = _decode(tmp_path / 'videos' / 'train_001_000.mp4')
    assert frames.shape == (8, 32, 40, 3)
    # lossless H.264 in yuv420p: colours survive within chroma rounding
    tint = np.median(frames[:, :, :, :].reshape(-1, 3), axis=0)
    assert np.abs(tint - class_colour(1, 2)).max() <= 12
    assert data.labels['train'] == [0, 1]


def test_classes_differ_in_colour_and_direction():
    rng = np.random.default_rng(0)
    right = action_frames(0, 4, 6, 16, 32, rng)
    left = action_frames(1, 4, 6, 16, 32, rng)
    assert not np.array_equal(class_colour(0, 4), class_colour(1, 4))
    # the bar is the only saturated column: it moves right for class 0 and
    # left for class 1
    cols_r = [int(np.argmax(f.min(axis=(0, 2)))) for f in right]
    cols_l = [int(np.argmax(f.min(axis=(0, 2)))) for f in left]
    steps_r = np.diff(cols_r) % 32
    steps_l = np.diff(cols_l) % 32
    assert set(steps_r.tolist()) == {32 // 6}
    assert set(steps_l.tolist()) == {32 - 32 // 6}
