"""HD-VILA frame reading and geometry against the official resize chains.

Reference frames are read straight from the file with decord (or PIL for
frame folders); the expected keyframes and frames are built here from the
official operations: ``F.interpolate`` nearest (a 2x decimation for the
sizes used, so it is written as ``[::2, ::2]``), the crop offsets, OpenCV's
x4 ``INTER_CUBIC`` upsampling / default bilinear resize, the bilinear 2x
downscale of the TGIF path (the mean of each 2x2 block) and its padding.
"""
import random

import cv2
import decord
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from PIL import Image

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pipeline
from vtg_hd_vila.datasets.geometry import HDVILAFitPad, HDVILAResizeCrop
from vtg_hd_vila.testing import write_frame_folder, write_video


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """A 30-frame 36x56 video and all its frames as decord reads them."""
    path = write_video(tmp_path_factory.mktemp('v') / 'v.mp4', 30, (36, 56))
    return path, decord.VideoReader(path).get_batch(list(range(30))).asnumpy()


def run(pipeline, **info):
    return Compose(pipeline)(info)


def unpack(item):
    """keyframes ``[C, Hk, Wk, 3]`` and frames ``[C, T-1, h, w, 3]`` as
    numpy (undoing the CHW layout of the packed tensors)."""
    key = item['inputs']['keyframes']
    frames = item['inputs']['frames']
    assert key.dtype == frames.dtype == torch.uint8
    return (key.permute(0, 2, 3, 1).numpy(), frames.permute(0, 1, 3, 4,
                                                            2).numpy())


def cubic_x4(img):
    return cv2.resize(img, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)


def video_pipeline(train, keyframe='upsample', backend='auto'):
    return hd_vila_pipeline(
        'video',
        train=train,
        n_clips=2,
        resize_size=(18, 28),
        crop_size=(16, 24),
        keyframe=keyframe,
        backend=backend)


@pytest.mark.parametrize('backend', ['decord', 'pyav'])
def test_video_inference_matches_the_official_chain(video, backend):
    path, all_frames = video
    item = run(video_pipeline(False, backend=backend), filename=path)
    key, frames = unpack(item)
    # 30 frames, 2 clips of 7 at rate 4: candidates [12, 18), step 3
    inds = np.array([[0, 4, 8, 12, 16, 20, 24], [3, 7, 11, 15, 19, 23, 27]])
    assert item['data_samples'].frame_inds.tolist() == inds.tolist()
    low = all_frames[inds][:, :, ::2, ::2]  # nearest 36x56 -> 18x28
    crop = low[:, :, 1:17, 2:26]  # centre: (int(2 / 2), int(4 / 2))
    assert np.array_equal(frames, crop[:, [0, 1, 2, 4, 5, 6]])
    assert key.shape == (2, 64, 96, 3)
    assert np.array_equal(key, np.stack([cubic_x4(c[3]) for c in crop]))
    assert item['data_samples'].crop_box == (1, 2, 16, 24)
    assert item['data_samples'].flip is False


def test_video_training_draws_clips_then_window_then_flip(video):
    path, all_frames = video
    for seed in range(50):  # a seed whose draw flips, to check the flip
        random.seed(seed)
        middles = sorted(random.sample(list(range(12, 18)), 2))
        x, y = random.randint(0, 2), random.randint(0, 4)
        if random.choice([False, False, True]):
            break
    random.seed(seed)
    item = run(video_pipeline(True), filename=path)
    key, frames = unpack(item)
    sample = item['data_samples']
    assert sample.frame_inds[:, 3].tolist() == middles
    assert (sample.crop_box, sample.flip) == ((x, y, 16, 24), True)
    low = all_frames[sample.frame_inds][:, :, ::2, ::2][:, :, :, ::-1]
    crop = low[:, :, x:x + 16, y:y + 24]
    assert np.array_equal(frames, crop[:, [0, 1, 2, 4, 5, 6]])
    assert np.array_equal(key, np.stack([cubic_x4(c[3]) for c in crop]))


def test_video_at_the_low_resolution_is_not_resized(tmp_path):
    path = write_video(tmp_path / 'small.mp4', 30, (18, 28))
    ref = decord.VideoReader(path).get_batch([12, 15]).asnumpy()
    key, frames = unpack(run(video_pipeline(False), filename=path))
    assert np.array_equal(key[0], cubic_x4(ref[0, 1:17, 2:26]))
    assert np.array_equal(key[1], cubic_x4(ref[1, 1:17, 2:26]))


@pytest.mark.parametrize('train', [False, True])
def test_high_res_video_keyframe(video, train):
    path, all_frames = video
    random.seed(4)
    item = run(video_pipeline(train, keyframe='high_res'), filename=path)
    key, frames = unpack(item)
    x, y, _, _ = item['data_samples'].crop_box
    flip = item['data_samples'].flip
    native = all_frames[item['data_samples'].frame_inds[:, 3]]
    big = np.stack([cv2.resize(f, (4 * 28, 4 * 18)) for f in native])
    if flip:
        big = big[:, :, ::-1]
    assert key.shape == (2, 64, 96, 3)
    assert np.array_equal(key, big[:, 4 * x:4 * x + 64, 4 * y:4 * y + 96])


def test_frame_folder_matches_official_load_frames(tmp_path):
    hr_root, lr_root = write_frame_folder(
        tmp_path, 'movie/clip', 20, size=(80, 120), lr_size=(18, 28))
    item = run(
        hd_vila_pipeline(
            'frame',
            train=False,
            n_clips=2,
            num_frm=5,
            sample_rate=2,
            crop_size=(16, 24)),
        frame_dir=hr_root,
        lr_frame_dir=lr_root,
        clip_id='movie/clip',
        total_frames=20)
    key, frames = unpack(item)

    def read(root, i):
        return np.asarray(
            Image.open(f'{root}/movie/clip/clip_{i:03d}.jpg').convert('RGB'))

    # 20 frames, 2 clips of 5 at rate 2: candidates [4, 16), step 6
    inds = [[0, 2, 4, 6, 8], [6, 8, 10, 12, 14]]
    assert item['data_samples'].frame_inds.tolist() == inds
    # test crop at (int(18 / 18), int(28 / 18)) = (1, 1)
    lr = np.stack([[read(lr_root, i) for i in c] for c in inds])
    assert np.array_equal(frames, lr[:, [0, 1, 3, 4], 1:17, 1:25])
    hr = [cv2.resize(read(hr_root, c[2]), (112, 72)) for c in inds]
    assert np.array_equal(key, np.stack([h[4:68, 4:100] for h in hr]))


def test_fit_pad_matches_the_official_tgif_chain():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (1, 3, 36, 56, 3), dtype=np.uint8)
    out = HDVILAFitPad(max_size=28, train=False)(dict(imgs=imgs.copy()))
    # longer side 56 -> 28, the other int(28 * 36 / 56) = 18; bilinear at
    # scale 2 averages each 2x2 block; truncated; rows 18..27 padded
    blocks = imgs[0].astype(np.float64).reshape(3, 18, 2, 28, 2, 3)
    small = np.floor(blocks.mean(axis=(2, 4))).astype(np.uint8)
    expected = np.full((3, 28, 28, 3), 127, np.uint8)
    expected[:, :18] = small
    assert np.array_equal(out['frames'][0], expected[[0, 2]])
    assert np.array_equal(out['keyframes'][0], cubic_x4(expected[1]))
    assert out['flip'] is False


def test_fit_pad_training_flips_with_the_official_draws():
    imgs = np.random.default_rng(1).integers(
        0, 256, (1, 3, 28, 28, 3), dtype=np.uint8)
    for seed in range(50):
        random.seed(seed)
        random.randint(0, 0), random.randint(0, 0)  # the empty window
        if random.choice([False, False, True]):
            break
    random.seed(seed)
    out = HDVILAFitPad(max_size=28, train=True)(dict(imgs=imgs.copy()))
    assert out['flip'] is True
    # a 28x28 frame fitted to 28 is unchanged (bilinear at scale 1)
    assert np.array_equal(out['frames'][0], imgs[0, [0, 2], :, ::-1])


def test_crop_must_fit():
    t = HDVILAResizeCrop(crop_size=(20, 24), train=False, resize_size=None)
    with pytest.raises(
            ValueError, match='20x24 crop .* does not fit its '
            '18x28'):
        t(dict(imgs=np.zeros((1, 3, 18, 28, 3), np.uint8), filename='x'))
