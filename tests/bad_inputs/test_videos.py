"""Bad video files: truncated or unreadable videos are refused by the frame
reader (vtg_plugins.features.frames) and by every tool built on it
(tools/data/extract_frames.py, tools/data/extract_feat.py, the feature
extractor of the inference API), naming the file and how many frames it
gave of how many its stated duration promises; ``--allow-short`` /
``allow_short=True`` keeps such a video, logged with both counts.

The videos are tiny PyAV files; a truncated one is a prefix of the bytes of
a complete file."""
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from mmengine.logging import MMLogger

from vtg_plugins.datasets.feature_stores import DirectoryStore
from vtg_plugins.features.extractor import FeatureExtractor, FeatureRecipe
from vtg_plugins.features.frames import (ShortVideoError, VideoDecodeError,
                                         decode_frames, read_video)
from vtg_plugins.testing import feature_pipeline as H

REPO = Path(__file__).resolve().parents[2]
# 10 s at 10 fps: 5 frames at 0.5 fps; a 40 % prefix decodes to 2 of them
SECONDS, VIDEO_FPS, FPS = 10, 10, 0.5


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        name, REPO / 'tools' / 'data' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


@pytest.fixture
def truncated_mp4(tmp_path):
    """A faststart (index first) mp4 cut at 40 % of its bytes: the index
    still promises 10 s."""
    full = tmp_path / 'full.mp4'
    H.write_video(full, SECONDS, VIDEO_FPS, faststart=True)
    assert full.read_bytes()[4:8] == b'ftyp' and b'moov' in \
        full.read_bytes()[:64]  # moov before mdat
    return _cut(full, tmp_path / 'cut.mp4', 0.4)


class _Records(logging.Handler):
    """Collects the messages of MMEngine's current logger (it does not
    propagate to the root logger that caplog listens on)."""

    def __enter__(self):
        self.messages = []
        MMLogger.get_current_instance().addHandler(self)
        return self

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __exit__(self, *exc):
        MMLogger.get_current_instance().removeHandler(self)


def test_truncated_faststart_mp4_is_refused_naming_file_and_counts(
        truncated_mp4):
    for backend in ('auto', 'pyav'):
        with pytest.raises(ShortVideoError) as err:
            decode_frames(truncated_mp4, FPS, backend)
        msg = str(err.value)
        assert str(truncated_mp4) in msg
        assert 'decoded 2 of the 5 frames expected at 0.5 fps' in msg
        assert '10.000 s' in msg and '--allow-short' in msg
    with pytest.raises(ShortVideoError, match='decoded 2 of the 5'):
        read_video(truncated_mp4, FPS, 224)
    # decord alone cannot read it at all: a decode error naming the file
    with pytest.raises(VideoDecodeError) as err:
        decode_frames(truncated_mp4, FPS, 'decord')
    assert str(truncated_mp4) in str(err.value)
    assert not isinstance(err.value, ShortVideoError)


def test_truncated_faststart_mp4_with_allow_short_is_kept_and_logged(
        truncated_mp4):
    with _Records() as log:
        frames = read_video(truncated_mp4, FPS, 224, allow_short=True)
    assert frames.shape == (2, 3, 224, 224)
    assert any(
        str(truncated_mp4) in m and 'decoded 2 of the 5 frames' in m and
        'accepted (allow_short)' in m for m in log.messages), log.messages


@pytest.mark.parametrize('ext,codec', [('mkv', 'libx264'),
                                       ('webm', 'libvpx')])
def test_truncated_matroska_is_refused_by_every_decoder(
        tmp_path, ext, codec):
    """Matroska has no index to fail on: decord and PyAV both stop early
    and return the first frames without an error."""
    full = tmp_path / f'full.{ext}'
    H.write_video(full, SECONDS, VIDEO_FPS, codec)
    cut = _cut(full, tmp_path / f'cut.{ext}', 0.4)
    for backend in ('decord', 'pyav', 'auto'):
        with pytest.raises(ShortVideoError) as err:
            decode_frames(cut, FPS, backend)
        msg = str(err.value)
        assert str(cut) in msg and 'of the 5 frames expected' in msg
        assert 'video stream tag' in msg  # Matroska's DURATION tag


def test_truncated_video_fails_extract_frames_naming_the_file(
        tmp_path, truncated_mp4, capsys):
    videos = tmp_path / 'videos'
    videos.mkdir()
    truncated_mp4.rename(videos / 'cut.mp4')
    H.write_video(videos / 'good.mp4', 4, VIDEO_FPS)
    frames = _tool('extract_frames')
    out = tmp_path / 'frames'
    assert frames.main([str(videos), '--frame-dir', str(out),
                        '--workers', '1']) == 1
    err = capsys.readouterr().err
    assert '1 of 2 videos failed' in err
    assert f"{videos / 'cut.mp4'}: ShortVideoError" in err
    assert 'decoded 2 of the 5 frames' in err
    assert not (out / 'cut.npy').exists()
    assert np.load(out / 'good.npy').shape == (2, 3, 224, 224)
    # accepted on request, with the counts logged
    with _Records() as log:
        assert frames.main([str(videos), '--frame-dir', str(out),
                            '--workers', '1', '--allow-short']) == 0
    assert np.load(out / 'cut.npy').shape == (2, 3, 224, 224)
    assert any('decoded 2 of the 5 frames' in m for m in log.messages)


def test_truncated_video_fails_extract_feat_naming_the_file(
        tmp_path, truncated_mp4, capsys):
    videos = tmp_path / 'videos'
    videos.mkdir()
    truncated_mp4.rename(videos / 'cut.mp4')
    H.save_tiny_checkpoint(tmp_path / 'clip.pt')
    (tmp_path / 'tiny.json').write_text(json.dumps(H.TINY_CLIP))
    ann = tmp_path / 'ann.jsonl'
    ann.write_text(json.dumps(dict(
        qid='q1', vid='cut', query='a red thing', duration=10.0,
        windows=[[0.0, 2.0]], clip_len=2.0)) + '\n')
    feat = _tool('extract_feat')

    def run(*flags):
        return feat.main([
            str(ann), str(videos), '--checkpoint', str(tmp_path / 'clip.pt'),
            '--model-config', str(tmp_path / 'tiny.json'), '--k', '2',
            '--workers', '0', '--out-dir', str(tmp_path / 'stores'), *flags
        ])

    assert run() == 1
    err = capsys.readouterr().err
    assert '1 of 1 videos failed' in err
    assert f"{videos / 'cut.mp4'}: ShortVideoError" in err
    assert 'decoded 2 of the 5 frames' in err
    assert run('--allow-short') == 0
    store = DirectoryStore(tmp_path / 'stores' / 'clip_b32_vid_k2')
    assert store['cut'].shape[0] == 2


def test_truncated_video_is_refused_by_the_inference_extractor(
        tmp_path, truncated_mp4):
    extractor = FeatureExtractor(
        FeatureRecipe('ViT-B/32', k=2, fps=FPS), model_cfg=H.TINY_CLIP)
    with pytest.raises(ShortVideoError) as err:
        extractor.encode_video(truncated_mp4)
    assert str(truncated_mp4) in str(err.value)
    assert 'decoded 2 of the 5 frames' in str(err.value)


def test_not_a_video_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / 'noise.mp4'
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(VideoDecodeError) as err:
        read_video(bad, FPS)
    assert str(bad) in str(err.value)
    assert 'decord' in str(err.value) and 'pyav' in str(err.value)
