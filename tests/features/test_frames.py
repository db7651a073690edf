"""Frame sampling, resize / crop and decoding (vtg_plugins.features.frames)."""
import numpy as np
import pytest
import torch

from vtg_plugins.features import frames as F
from vtg_plugins.features.frames import (VideoDecodeError, decode_frames,
                                     find_videos, read_video,
                                     resize_center_crop, sample_frame_indices)


@pytest.mark.parametrize(
    'video_fps,seconds,fps,expected',
    [
        # 0.5 fps: clip n is the last frame before 2n + 1 s (t = 1 s rounds up)
        (30, 7, 0.5, [29, 89, 149, 209]),  # 7 s -> round(3.5) = 4 outputs
        (10, 6, 0.5, [9, 29, 49]),
        (10, 6, 1.0, [4, 14, 24, 34, 44, 54]),
        (25, 2, 0.5, [24]),  # last frame t=0.96 < 1 s
    ])
def test_sampling_follows_ffmpeg_fps_filter(video_fps, seconds, fps, expected):
    n = video_fps * seconds
    idx = sample_frame_indices(np.arange(n) / video_fps, seconds, fps)
    assert idx.dtype == np.int64
    assert idx.tolist() == expected


def test_sampling_irregular_timestamps_and_gaps():
    # slots round(t / 2): 0, 0, 1, 1, 2 ; end 5 s -> round(2.5) = 3 outputs
    times = np.array([0., 0.3, 1.2, 1.9, 4.5])
    assert sample_frame_indices(times, 5.0, 0.5).tolist() == [1, 3, 4]
    # a gap repeats the last frame, as ffmpeg duplicates it
    assert sample_frame_indices(np.array([0., 5.]), 5.1,
                                1.0).tolist() == [0, 0, 0, 0, 0]
    # a video shorter than half a clip still gives one frame
    assert sample_frame_indices(np.array([0.]), 0.2, 0.5).tolist() == [0]
    with pytest.raises(ValueError, match='fps must be positive'):
        sample_frame_indices(times, 5.0, 0)


def test_resize_center_crop_geometry():
    # no resampling when the short side is already 224: an exact crop at
    # x = int((300 - 224) / 2) = 38
    img = torch.randint(0, 256, (2, 224, 300, 3), dtype=torch.uint8)
    out = resize_center_crop(img, 224)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 224, 224)
    assert torch.equal(out, img[:, :, 38:262].permute(0, 3, 1, 2))
    # 48x64 with a black left half / white right half: resized to 224x298,
    # crop from x = 37, the edge (x = 149) lands at 112 = centre of the crop
    img = np.zeros((1, 48, 64, 3), np.uint8)
    img[:, :, 32:] = 255
    out = resize_center_crop(img, 224)[0, 0]
    assert out.shape == (224, 224)
    assert (out[:, :108] == 0).all() and (out[:, 117:] == 255).all()
    assert 0 < out[0, 112] < 255 or 0 < out[0, 111] < 255
    # portrait: 64 wide x 96 high -> 224 x 336, crop from y = 56
    img = np.zeros((1, 96, 64, 3), np.uint8)
    img[:, 48:] = 200
    out = resize_center_crop(img, 224)[0, 1]
    assert (out[:108] == 0).all() and (out[117:] == 200).all()
    with pytest.raises(ValueError, match=r'\[N, H, W, 3\]'):
        resize_center_crop(np.zeros((4, 4, 3), np.uint8), 224)


@pytest.mark.parametrize(
    'codec,video_fps,seconds,picked',
    [
        ('libx264', 30, 7, [29, 89, 149, 209]),  # B-frames, reordered packets
        ('mpeg4', 10, 6, [9, 29, 49]),
    ])
def test_decord_and_pyav_agree(tmp_path, helpers, codec, video_fps, seconds,
                               picked):
    path = tmp_path / 'v.mp4'
    helpers.write_video(path, seconds, video_fps, codec)
    by_decord, used_d = decode_frames(path, 0.5, 'decord')
    by_pyav, used_p = decode_frames(path, 0.5, 'pyav')
    assert (used_d, used_p) == ('decord', 'pyav')
    assert by_decord.shape == (len(picked), 48, 64, 3)
    np.testing.assert_array_equal(by_decord, by_pyav)
    # the picked frames, told apart by their flat red / green (step 7/frame)
    expected = np.stack([helpers.frame_content(i, video_fps) for i in picked])
    mean = by_pyav[..., :2].mean(axis=(1, 2))
    np.testing.assert_allclose(
        mean, expected[..., :2].mean(axis=(1, 2)), atol=2.5)
    # read_video: same frames, resized and cropped
    out = read_video(path, 0.5, 224, 'pyav')
    assert torch.equal(out, resize_center_crop(by_decord, 224))


def test_auto_falls_back_to_pyav(tmp_path, helpers, monkeypatch):
    path = tmp_path / 'v.mp4'
    helpers.write_video(path, 3, 10)

    def broken(*args):
        raise RuntimeError('decord cannot seek')

    monkeypatch.setitem(F._READERS, 'decord', broken)
    frames, used = decode_frames(path, 1.0)
    assert used == 'pyav' and frames.shape == (3, 48, 64, 3)

    def missing(*args):
        raise ImportError('No module named decord')

    monkeypatch.setitem(F._READERS, 'decord', missing)
    assert decode_frames(path, 1.0)[1] == 'pyav'


def test_undecodable_video_names_the_file(tmp_path):
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'not a video at all')
    with pytest.raises(VideoDecodeError) as err:
        read_video(bad, 0.5)
    msg = str(err.value)
    assert str(bad) in msg and 'decord' in msg and 'pyav' in msg
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        read_video(tmp_path / 'missing.mp4', 0.5)
    with pytest.raises(ValueError, match='unknown video backend'):
        decode_frames(bad, 0.5, 'opencv')


def test_find_videos(tmp_path):
    for name in ('a.mp4', 'b.MKV', 'c.txt', '.d.mp4'):
        (tmp_path / name).write_bytes(b'')
    assert sorted(find_videos(tmp_path)) == ['a', 'b']
    assert list(find_videos(tmp_path, vids=['b'])) == ['b']
    (tmp_path / 'a.avi').write_bytes(b'')
    with pytest.raises(ValueError, match="two videos with id 'a'"):
        find_videos(tmp_path)


def test_read_video_resizes_in_chunks(tmp_path, helpers):
    path = tmp_path / 'v.mp4'
    helpers.write_video(path, 3, 10)
    out = read_video(path, 10.0, 224)  # every frame: 30 > one chunk of 16
    frames, _ = decode_frames(path, 10.0)
    assert out.shape == (30, 3, 224, 224)
    assert torch.equal(out, resize_center_crop(frames, 224))


@pytest.mark.parametrize('ext,codec,video_fps,seconds', [
    ('mp4', 'libx264', 30, 7),   # B-frames: an edit list shifts the pts
    ('mp4', 'mpeg4', 25, 4.6),
    ('mkv', 'libx264', 10, 6),   # Matroska: the DURATION tag
    ('webm', 'libvpx', 10, 3),
])
def test_complete_videos_are_not_short_at_any_rate(tmp_path, helpers, ext,
                                                   codec, video_fps,
                                                   seconds):
    path = tmp_path / f'v.{ext}'
    helpers.write_video(path, seconds, video_fps, codec)
    duration, slack, source = F.stated_duration(path)
    n = int(seconds * video_fps)
    assert duration == pytest.approx(n / video_fps, abs=1e-3)
    assert slack == pytest.approx(1 / video_fps)
    assert source == ('video stream' if ext == 'mp4' else 'video stream tag')
    for fps in (0.5, 1.0, 2.0, float(video_fps)):
        for backend in ('decord', 'pyav'):
            frames, _ = decode_frames(path, fps, backend)
            assert len(frames) == max(1, int(np.floor(n / video_fps * fps +
                                                      0.5 + 1e-6)))


def test_avi_that_decord_reads_as_one_frame_falls_back_to_pyav(
        tmp_path, helpers):
    """decord 0.6 gives these AVI files a single frame: too few for their
    10 s, so 'auto' moves on to PyAV, which decodes all 5."""
    path = tmp_path / 'v.avi'
    helpers.write_video(path, 10, 10)
    with pytest.raises(F.ShortVideoError, match=r'decoded 1 of the 5'):
        decode_frames(path, 0.5, 'decord')
    frames, used = decode_frames(path, 0.5)
    assert used == 'pyav' and frames.shape == (5, 48, 64, 3)


def test_a_container_duration_gets_a_second_of_slack(tmp_path, helpers,
                                                     monkeypatch):
    """Only the container states a duration (the longest stream, e.g. a
    longer audio track): frames may end up to 1 s + one frame before it."""
    path = tmp_path / 'v.mp4'
    helpers.write_video(path, 10, 10)  # 10 frames at 1 fps
    slack = 0.1 + F.CONTAINER_SLACK_S
    monkeypatch.setattr(F, 'stated_duration',
                        lambda p: (11.4, slack, 'container'))
    assert len(decode_frames(path, 1.0)[0]) == 10
    monkeypatch.setattr(F, 'stated_duration',
                        lambda p: (12.0, slack, 'container'))
    with pytest.raises(F.ShortVideoError,
                       match=r'decoded 10 of the 12 frames .* its container '
                       r'states \(12\.000 s\)'):
        decode_frames(path, 1.0, 'pyav')
    # no stated duration (e.g. a raw stream): nothing to compare with
    monkeypatch.setattr(F, 'stated_duration', lambda p: None)
    assert len(decode_frames(path, 1.0)[0]) == 10
