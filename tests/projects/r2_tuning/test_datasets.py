"""R²-Tuning's target construction (official bind_boundary / bind_saliency)
and the grounding dataset's bad-input errors."""
import json
import random

import numpy as np
import pytest
import torch

import vtg_r2_tuning  # noqa: F401
from vtg_plugins.datasets import GroundingDataset
from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_r2_tuning.datasets import (PackR2Inputs, R2GroundingTargets,
                                    R2HighlightTargets)


def _info(windows, num_clips=10, clip_len=2.0, duration=20.0, **kw):
    return dict(qid='q', vid='v', query='x', duration=duration,
                windows=windows, clip_len=clip_len, saliency=None, extra={},
                video_feat=np.zeros((num_clips, 1, 2, 3), np.float16), **kw)


def test_windows_are_clamped_swapped_and_widened():
    # 10 clips at 0.5 fps -> features span 20 s
    out = R2GroundingTargets()(_info([[-3.0, 4.0], [9.0, 5.0], [7.2, 7.9],
                                      [19.5, 25.0]]))
    assert out['gt_windows'].tolist() == [
        [0.0, 4.0],          # clamped at 0
        [5.0, 9.0],          # inverted -> swapped
        [6.550000190734863, 8.550000190734863],  # < 1 clip: 2 s around 7.55
        [18.0, 20.0],        # clamped to 20, then widened inside [1, 19]
    ]
    assert out['gt_windows'].dtype == torch.float32


def test_saliency_from_windows_covers_ceil_of_clip_bounds():
    random.seed(0)
    out = R2GroundingTargets()(_info([[3.0, 7.0]]))
    # clips ceil(1.5)=2 .. ceil(3.5)=4 (exclusive)
    assert out['saliency_target'].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert out['pos_clip'] in (2, 3)


def test_saliency_from_annotator_scores():
    info = _info([[2.0, 6.0]], num_clips=5, duration=11.0)
    info['saliency'] = [[0, 0, 0], [4, 4, 4], [1, 2, 3], [0, 0, 0], [0, 0, 0],
                        [0, 0, 0]]
    info['extra'] = dict(relevant_clip_ids=[1, 2])
    out = R2GroundingTargets()(info)
    # int(11 * 0.5) = 5 annotated clips, normalised by 12
    assert out['saliency_target'].tolist() == [0, 1, 0.5, 0, 0]
    assert out['pos_clip'] in (1, 2)


def test_saliency_clip_count_mismatch_is_an_error_naming_the_query():
    info = _info([[2.0, 6.0]], num_clips=5, duration=40.0)
    info['saliency'] = [[1, 1, 1]] * 20
    info['extra'] = dict(relevant_clip_ids=[1])
    with pytest.raises(ValueError, match="qid 'q'.*20 annotated clips"):
        R2GroundingTargets()(info)


def test_no_positive_clip_is_a_clear_error():
    info = _info([[2.0, 6.0]], num_clips=5, duration=10.0)
    info['saliency'] = [[0, 0, 0]] * 5
    info['extra'] = dict(relevant_clip_ids=[1])
    with pytest.raises(ValueError, match='no clip has positive saliency'):
        R2GroundingTargets()(info)


def test_highlight_targets_youtube_and_tvsum():
    random.seed(1)
    yt = R2HighlightTargets()(dict(qid='v', vid='v', match=[1, -1, 1, -1],
                                   video_feat=np.zeros((4, 2))))
    assert yt['saliency_target'].tolist() == [1, 0, 1, 0]
    assert yt['pos_clip'] in (0, 2)
    anno = [[1] * 20, [5] * 20, [3] * 20, [2] * 20, [4] * 20, [5] * 20]
    tv = R2HighlightTargets()(dict(qid='v', vid='v', anno=anno,
                                   video_feat=np.zeros((4, 2))))
    # cut to the 4 feature clips; (sum - 20) / 80; lower median = 0.25
    assert tv['saliency_target'].tolist() == [0.0, 1.0, 0.5, 0.25]
    assert tv['video_feat'].shape[0] == 4
    assert tv['pos_clip'] in (1, 2)


def test_pack_keeps_annotation_windows_for_evaluation():
    info = _info([[-1.0, 4.0]], num_clips=10)
    info['query_feat'] = np.ones((3, 1, 4), np.float16)
    packed = PackR2Inputs()(R2GroundingTargets()(info))
    sample = packed['data_samples']
    assert sample.relevant_windows == [[-1.0, 4.0]]  # as annotated
    assert sample.gt_windows.tolist() == [[0.0, 4.0]]  # training target
    assert packed['inputs']['video'].shape == (10, 6)
    assert packed['inputs']['query'].shape == (3, 4)
    assert sample.fps == 0.5


@pytest.fixture
def store(tmp_path):
    """One video (6 clips) and one query in the directory layout."""

    def make(video, query, duration=12.0):
        with DirectoryWriter(tmp_path / 'vid') as w:
            w.add('v1', video)
        with DirectoryWriter(tmp_path / 'txt') as w:
            w.add('0', query)
        ann = tmp_path / 'ann.jsonl'
        ann.write_text(json.dumps(dict(
            qid=0, vid='v1', query='a', duration=duration,
            relevant_windows=[[2, 4]])) + '\n')
        return GroundingDataset(
            str(ann), dict(type='DirectoryStore', root=str(tmp_path / 'vid')),
            dict(type='DirectoryStore', root=str(tmp_path / 'txt')),
            ann_format='qvhighlights', ann_kwargs=dict(clip_len=2.0))

    return make


def test_dataset_reads_features(store):
    ds = store(np.zeros((6, 4, 2, 8), np.float16),
               np.zeros((5, 4, 8), np.float16))
    item = ds[0]
    assert item['video_feat'].shape == (6, 4, 2, 8)
    assert item['query_feat'].shape == (5, 4, 8)


def test_nan_in_features_is_named(store):
    video = np.zeros((6, 4, 2, 8), np.float16)
    video[3, 1, 0, 0] = np.nan
    ds = store(video, np.zeros((5, 4, 8), np.float16))
    with pytest.raises(ValueError, match=r"vid: video 'v1'.*row 3"):
        ds[0]


def test_clip_count_disagreeing_with_duration_is_named(store):
    ds = store(np.zeros((6, 4, 2, 8), np.float16),
               np.zeros((5, 4, 8), np.float16), duration=40.0)
    with pytest.raises(ValueError, match=r"'v1'.*T=6 clips but duration 40"):
        ds[0]


def test_query_longer_than_text_context_is_named(store):
    ds = store(np.zeros((6, 4, 2, 8), np.float16),
               np.zeros((78, 4, 8), np.float16))
    with pytest.raises(ValueError, match="query '0': 78 tokens exceed"):
        ds[0]
