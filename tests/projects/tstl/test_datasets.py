"""The TSTL datasets (official list formats) and the decord / PyAV video
transforms, on tiny PyAV videos written into tmp_path.

Frame ``i`` of ``write_video`` has green ``7 * i``, so the decoded frames
tell which indices were read."""
import sys

import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401
from vtg_plugins.registry import DATASETS
from vtg_plugins.testing.feature_pipeline import write_video
from vtg_tstl.datasets import (DecordWithPyAVDecode, DecordWithPyAVInit,
                               EpicKitchensDataset, TSTLVideoDataset)

FPS = 10


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def _frame_ids(imgs):
    """The index of each decoded frame, from its green level."""
    return [int(round(img[..., 1].mean() / 7)) for img in imgs]


@pytest.fixture
def videos(tmp_path):
    """a.mp4: 30 frames, b.mp4: 20 frames (48 x 64)."""
    root = tmp_path / 'videos'
    root.mkdir()
    write_video(root / 'a.mp4', 3, FPS)
    write_video(root / 'b.mp4', 2, FPS)
    return root


def _test_pipeline():
    return [
        dict(type='DecordWithPyAVInit'),
        dict(type='SegmentSampleFrames', num_segments=16, num_clips=2,
             test_mode=True),
        dict(type='DecordWithPyAVDecode'),
        dict(type='ShortSideResize', short_side=32),
        dict(type='UniformThreeCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs'),
    ]


def test_video_list_records_keep_their_line(tmp_path, videos):
    ann = tmp_path / 'val.csv'
    ann.write_text('a.mp4 3\n\nb.mp4 0\n')
    ds = TSTLVideoDataset(str(ann), pipeline=[], num_classes=4,
                          data_prefix=dict(video=str(videos)))
    assert len(ds) == 2
    assert ds.get_data_info(1) == dict(
        filename=str(videos / 'b.mp4'), label=0, ann_file=str(ann), line=3,
        sample_idx=1, modality='RGB', start_index=0)


def test_ssv2_test_views_through_the_dataset(tmp_path, videos):
    ann = tmp_path / 'val.csv'
    ann.write_text('a.mp4 3\nb.mp4 1\n')
    ds = DATASETS.build(
        dict(type='TSTLVideoDataset', ann_file=str(ann), num_classes=4,
             data_prefix=dict(video=str(videos)), pipeline=_test_pipeline(),
             test_mode=True))
    out = ds[0]
    # 2 views x 3 crops, 16 frames of 32 x 32 (48 x 64 -> 32 x 42)
    assert tuple(out['inputs'].shape) == (6, 3, 16, 32, 32)
    assert out['data_samples'].gt_label.item() == 3
    # view 0 = int(tick * x), view 1 = int(tick / 2 + tick * x), tick 30/16
    tick = 30 / 16
    green = out['inputs'][:, 1].float().mean(dim=(-1, -2)).numpy() / 7
    assert np.round(green[0]).tolist() == [int(tick * x) for x in range(16)]
    assert np.round(green[1]).tolist() == [
        int(tick / 2 + tick * x) for x in range(16)
    ]
    assert np.round(green[2]).tolist() == np.round(green[0]).tolist()


@pytest.mark.parametrize('backend', ['decord', 'pyav', 'auto'])
def test_backends_decode_the_indexed_frames(videos, backend):
    inds = np.array([0, 5, 5, 29, 12])
    out = Compose([DecordWithPyAVInit(backend=backend),
                   DecordWithPyAVDecode()])(
                       dict(filename=str(videos / 'a.mp4'), frame_inds=inds))
    assert out['total_frames'] == 30 and out['video_reader'] is None
    assert out['video_backend'] == ('decord' if backend == 'auto' else
                                    backend)
    assert _frame_ids(out['imgs']) == inds.tolist()
    assert out['img_shape'] == (48, 64)


def test_decord_and_pyav_give_the_same_pixels(videos):
    inds = np.arange(0, 30, 3)
    frames = {}
    for backend in ('decord', 'pyav'):
        out = Compose([DecordWithPyAVInit(backend=backend),
                       DecordWithPyAVDecode()])(
                           dict(filename=str(videos / 'a.mp4'),
                                frame_inds=inds))
        frames[backend] = np.stack(out['imgs'])
    assert np.array_equal(frames['decord'], frames['pyav'])


def test_pyav_when_decord_is_not_installed(videos, monkeypatch):
    monkeypatch.setitem(sys.modules, 'decord', None)  # import fails
    out = Compose([DecordWithPyAVInit(), DecordWithPyAVDecode()])(
        dict(filename=str(videos / 'b.mp4'), frame_inds=np.array([1, 19])))
    assert out['video_backend'] == 'pyav' and out['total_frames'] == 20
    assert _frame_ids(out['imgs']) == [1, 19]


def test_pyav_when_decord_fails_on_the_file(videos, monkeypatch):
    import decord

    def refuse(*args, **kwargs):
        raise RuntimeError('decord cannot read this')

    monkeypatch.setattr(decord, 'VideoReader', refuse)
    out = DecordWithPyAVInit()(dict(filename=str(videos / 'a.mp4')))
    assert out['video_backend'] == 'pyav' and out['total_frames'] == 30


class _BrokenReader:
    """A decord reader that opened the file but fails to decode frames."""

    def __len__(self):
        return 30

    def get_batch(self, indices):
        raise RuntimeError('decord: corrupt packet')


def test_pyav_when_decord_fails_on_a_frame(videos):
    results = dict(filename=str(videos / 'a.mp4'),
                   video_reader=_BrokenReader(), video_backend='decord',
                   total_frames=30,
                   frame_inds=np.array([3, 4]))
    out = DecordWithPyAVDecode()(dict(results))
    assert out['video_backend'] == 'pyav'
    assert _frame_ids(out['imgs']) == [3, 4]
    with pytest.raises(RuntimeError, match='decord: corrupt packet'):
        DecordWithPyAVDecode(fallback=False)(dict(results))


def test_epic_kitchens_list_and_packing(tmp_path, videos):
    ann = tmp_path / 'val.csv'
    ann.write_text('a,6,0\nb,96,299\n')  # <video id>,<verb>,<noun>
    pipeline = [
        dict(type='DecordWithPyAVInit'),
        dict(type='SegmentSampleFrames', num_segments=16),
        dict(type='DecordWithPyAVDecode'),
        dict(type='RandomResizedCrop', area_range=(0.08, 1.0),
             aspect_ratio_range=(0.75, 1.3333)),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs',
             algorithm_keys=('noun_label', 'verb_label')),
    ]
    ds = EpicKitchensDataset(str(ann), pipeline=pipeline,
                             data_prefix=dict(video=str(videos)))
    info = ds.get_data_info(1)
    assert (info['filename'], info['verb_label'], info['noun_label'],
            info['line']) == (str(videos / 'b.mp4'), 96, 299, 2)
    out = ds[1]
    assert tuple(out['inputs'].shape) == (1, 3, 16, 32, 32)
    sample = out['data_samples']
    assert (sample.noun_label, sample.verb_label) == (299, 96)
    assert 'gt_label' not in sample
