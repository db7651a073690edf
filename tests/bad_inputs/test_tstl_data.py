"""Bad TSTL data: the official video lists (SSv2 / UCF101 / K400 ``<video>
<label>``, EPIC-Kitchens ``<id>,<verb>,<noun>``) with a bad record, and
videos that are missing, unreadable, truncated or shorter than the sampled
clip. Each is refused with an error naming the file, the list line and what
is wrong (the official loaders crash later, or silently train on a random
other video)."""
import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401
from vtg_plugins.features.frames import ShortVideoError, VideoDecodeError
from vtg_plugins.testing.feature_pipeline import write_video
from vtg_tstl.datasets import EpicKitchensDataset, TSTLVideoDataset


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def assert_refused(build, path, *expected, error=ValueError):
    """``build()`` raises ``error`` naming ``path`` and every ``expected``
    text; returns the message."""
    with pytest.raises(error) as err:
        build()
    msg = str(err.value)
    assert str(path) in msg, msg
    for text in expected:
        assert text in msg, f'{text!r} not in {msg!r}'
    return msg


def _list(tmp_path, text, name='train.csv'):
    path = tmp_path / name
    path.write_text(text)
    return path


def _videos(path, num_classes=5):
    return lambda: TSTLVideoDataset(str(path), pipeline=[],
                                    num_classes=num_classes)


def _epic(path):
    return lambda: EpicKitchensDataset(str(path), pipeline=[])


# --- lists ------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('a.mp4 1\nb.mp4 5\n', ['line 2', 'label 5 is outside [0, 5)']),
    ('a.mp4 1\nb.mp4 -1\n', ['line 2', 'label -1 is outside']),
    ('video label\na.mp4 1\n', ['line 1', "label 'label' is not an integer",
                                'no header']),
    ('a.mp4 1\n\nb.mp4 1.5\n', ['line 3', "label '1.5' is not an integer"]),
    ('a.mp4 1\nb.mp4\n', ['line 2', "expected 2 columns '<video> <label>'",
                          'got 1']),
    ('a.mp4 1\nmy video.mp4 2\n', ['line 2', 'got 3']),
    ('a.mp4,1\n', ['line 1', 'got 1']),
    ('\n\n', ['has no records']),
])
def test_bad_video_list(tmp_path, text, expected):
    path = _list(tmp_path, text)
    assert_refused(_videos(path), path, *expected)


def test_num_classes_is_required(tmp_path):
    path = _list(tmp_path, 'a.mp4 1\n')
    assert_refused(_videos(path, num_classes=None), path, 'num_classes')


@pytest.mark.parametrize('text, expected', [
    ('P01_01_0,6,0\nP01_01_1,97,3\n', ['line 2', 'verb 97 is outside [0, 97)'
                                       ]),
    ('P01_01_0,6,300\n', ['line 1', 'noun 300 is outside [0, 300)']),
    ('P01_01_0 6 0\n', ['line 1', "'<video>,<verb>,<noun>'", 'got 1']),
    ('P01_01_0,6\n', ['line 1', 'expected 3 columns', 'got 2']),
    ('id,verb,noun\n', ['line 1', "verb 'verb' is not an integer"]),
])
def test_bad_epic_kitchens_list(tmp_path, text, expected):
    path = _list(tmp_path, text, 'val.csv')
    assert_refused(_epic(path), path, *expected)


# --- videos -----------------------------------------------------------------

def _read(tmp_path, video, sampler=None, good=True):
    """A function reading the last record of a list whose last line holds
    ``video`` (line 1 a good video if ``good``), through decoding; and the
    list."""
    lines = []
    if good:
        write_video(tmp_path / 'good.mp4', 3, 10)
        lines.append(f"{tmp_path / 'good.mp4'} 0")
    path = _list(tmp_path, '\n'.join(lines + [f'{video} 1\n']), 'val.csv')
    pipeline = [
        dict(type='DecordWithPyAVInit'),
        sampler or dict(type='SegmentSampleFrames', num_segments=16),
        dict(type='DecordWithPyAVDecode'),
    ]
    ds = TSTLVideoDataset(str(path), pipeline=pipeline, num_classes=2)
    if good:
        ds[0]  # the good video reads
    return path, lambda: ds[len(ds) - 1]


def test_missing_video(tmp_path):
    video = tmp_path / 'gone.mp4'
    ann, read = _read(tmp_path, video)
    assert_refused(read, video, f'({ann} line 2)', 'does not exist',
                   error=FileNotFoundError)


def test_unreadable_video(tmp_path):
    video = tmp_path / 'junk.mp4'
    video.write_bytes(b'not a video' * 200)
    ann, read = _read(tmp_path, video)
    msg = assert_refused(read, video, f'({ann} line 2)', 'cannot open video',
                         'decord:', 'pyav:', error=VideoDecodeError)
    assert 'truncated' not in msg


def test_truncated_video(tmp_path):
    full = tmp_path / 'full.mp4'
    write_video(full, 2, 10, faststart=True)
    video = tmp_path / 'cut.mp4'
    video.write_bytes(full.read_bytes()[:int(full.stat().st_size * 0.4)])
    ann, read = _read(tmp_path, video)
    assert_refused(read, video, f'({ann} line 2)', 'of the 20 frames its '
                   'header states', 'truncated', error=ShortVideoError)


@pytest.mark.parametrize('sampler, expected', [
    (dict(type='SegmentSampleFrames', num_segments=16),
     'has 10 frames, SegmentSampleFrames(num_segments=16'),
    (dict(type='SegmentSampleFrames', num_segments=16, num_clips=2,
          test_mode=True), 'at least 16 (one frame per segment)'),
    (dict(type='DenseSampleFrames', clip_len=16, frame_interval=4),
     'at least 64 (clip_len 16 x frame_interval 4)'),
    (dict(type='DenseSampleFrames', clip_len=16, frame_interval=4,
          num_clips=5, test_mode=True), 'at least 61'),
])
def test_video_shorter_than_the_clip(tmp_path, sampler, expected):
    video = tmp_path / 'short.mp4'
    write_video(video, 1, 10)  # 10 frames
    ann, read = _read(tmp_path, video, sampler, good=False)
    assert_refused(read, video, f'({ann} line 1)', expected,
                   'allow_short=True', error=ShortVideoError)
    sampler = dict(sampler, allow_short=True)
    out = Compose([dict(type='DecordWithPyAVInit'), sampler,
                   dict(type='DecordWithPyAVDecode')])(
                       dict(filename=str(video)))
    assert len(out['imgs']) == 16 * sampler.get('num_clips', 1)


def test_frame_index_outside_the_video(tmp_path):
    video = tmp_path / 'v.mp4'
    write_video(video, 1, 10)
    results = dict(filename=str(video), ann_file='l.csv', line=4,
                   frame_inds=np.array([0, 10]))
    transforms = Compose([dict(type='DecordWithPyAVInit'),
                          dict(type='DecordWithPyAVDecode')])
    assert_refused(lambda: transforms(results), video, '(l.csv line 4)',
                   '[0, 10] are outside its 10 frames',
                   error=VideoDecodeError)
