"""The example dataset and its packing transform."""
import json
import math

import numpy as np
import pytest
import torch

from vtg_example_project.datasets import (ExampleMomentDataset,
                                          PackExampleInputs, clips_in_windows)


def test_shipped_annotations_load_with_features_of_the_right_length():
    train = ExampleMomentDataset(split='train', feat_dim=8)
    val = ExampleMomentDataset(split='val', feat_dim=8)
    assert (len(train), len(val)) == (24, 8)
    qids = {info['qid'] for info in train} | {info['qid'] for info in val}
    assert len(qids) == 32
    for info in train:
        clips = math.ceil(info['duration'] / info['clip_len'])
        assert info['video_feat'].shape == (clips, 8)
        assert info['video_feat'].dtype == np.float32
        assert len(info['windows']) == 1


def test_moment_clips_carry_the_planted_direction():
    ds = ExampleMomentDataset(split='train', feat_dim=8, signal=3.0, seed=5)
    direction = np.random.default_rng(5).standard_normal(8)
    direction /= np.linalg.norm(direction)
    inside, outside = [], []
    for info in ds:
        mask = clips_in_windows(info['windows'], len(info['video_feat']),
                                info['clip_len'])
        proj = info['video_feat'] @ direction
        inside.extend(proj[mask])
        outside.extend(proj[~mask])
    assert np.mean(inside) - np.mean(outside) == pytest.approx(3.0, abs=0.4)
    # same seed, same features; another seed, others
    again = ExampleMomentDataset(split='train', feat_dim=8, seed=5)
    other = ExampleMomentDataset(split='train', feat_dim=8, seed=6)
    assert np.array_equal(ds[0]['video_feat'], again[0]['video_feat'])
    assert not np.allclose(ds[0]['video_feat'], other[0]['video_feat'])


def test_clips_in_windows_uses_clip_centres():
    # clips of 2 s: centres 1, 3, 5, 7, 9
    mask = clips_in_windows([[2.0, 6.0], [8.9, 9.0]], 5, 2.0)
    assert mask.tolist() == [False, True, True, False, True]
    assert not clips_in_windows([], 3, 2.0).any()


def test_pack_gives_inputs_and_a_data_sample():
    info = dict(
        qid='q',
        vid='v',
        query='a cup',
        duration=7.0,
        clip_len=2.0,
        windows=[[2.0, 4.5]],
        saliency=None,
        extra={},
        video_feat=np.ones((4, 3), np.float16))
    packed = PackExampleInputs()(info)
    assert packed['inputs'].dtype == torch.float32
    assert packed['inputs'].shape == (4, 3)
    sample = packed['data_samples']
    assert (sample.qid, sample.duration, sample.clip_len) == ('q', 7.0, 2.0)
    assert sample.clip_labels.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert sample.gt_windows.tolist() == [[2.0, 4.5]]


def test_pack_refuses_features_that_are_not_t_by_d():
    info = dict(
        qid='q7',
        vid='v',
        query='',
        duration=4.0,
        clip_len=2.0,
        windows=[],
        video_feat=np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"qid 'q7'.*\[T, D\]"):
        PackExampleInputs()(info)


def test_a_bad_record_is_reported_with_file_line_and_field(tmp_path):
    ann = tmp_path / 'bad.jsonl'
    good = dict(
        qid='a',
        vid='v',
        query='q',
        duration=10.0,
        windows=[[0.0, 2.0]],
        clip_len=2.0)
    ann.write_text(
        json.dumps(good) + '\n' +
        json.dumps(dict(good, qid='b', duration='long')) + '\n')
    with pytest.raises(
            ValueError, match=r"bad\.jsonl: line 2: qid 'b'.*'duration'"):
        ExampleMomentDataset(ann_file=str(ann))


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split must be one of"):
        ExampleMomentDataset(split='test')
