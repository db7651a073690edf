"""Bad few-shot data and configs: a video list with a bad record, a class
that is unknown or has too few videos, a video without features or with
features of the wrong shape or length, and model inputs that do not match
their episode. Each is refused with an error naming the file, the record and
what is wrong, never a silently smaller or different episode."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_tempclr.datasets.few_shot import (FewShotDataError,
                                           FewShotEpisodeDataset)
from vtg_tempclr.models.few_shot import (FewShotAlignmentClassifier,
                                         LinearFrameEncoder)


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture
def store_root(tmp_path):
    """Videos ``a0..a2`` (class a), ``b0..b2`` (class b), ``c0`` (class c),
    ``[10, 4]`` features; ``short`` has 2 steps, ``layered`` is
    ``[2, 10, 4]``, ``wide`` is ``[10, 6]``."""
    root = tmp_path / 'feats'
    with DirectoryWriter(root) as writer:
        for key in ('a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0'):
            writer.add(key, np.ones((10, 4), np.float32))
        writer.add('short', np.ones((2, 4), np.float32))
        writer.add('layered', np.ones((2, 10, 4), np.float32))
        writer.add('wide', np.ones((10, 6), np.float32))
    return root


def write_list(tmp_path, records, name='list.jsonl'):
    path = tmp_path / name
    path.write_text(''.join(
        r if isinstance(r, str) else json.dumps(r) + '\n' for r in records))
    return path


def good_records(*extra):
    return [dict(video=f'{c}{i}', label=c) for c in 'ab'
            for i in range(3)] + list(extra)


def build(path, store_root, **kwargs):
    cfg = dict(num_ways=2, num_shots=2, num_queries=1, num_episodes=4,
               num_frames=4)
    cfg.update(kwargs)
    return FewShotEpisodeDataset(
        ann_file=str(path),
        feature_store=dict(type='DirectoryStore', root=str(store_root)),
        **cfg)


def assert_refused(build_fn, *expected, error=FewShotDataError):
    with pytest.raises(error) as err:
        build_fn()
    msg = str(err.value)
    for text in expected:
        assert text in msg, f'{text!r} not in {msg!r}'
    return msg


def test_missing_list(tmp_path, store_root):
    path = tmp_path / 'absent.jsonl'
    assert_refused(lambda: build(path, store_root), str(path),
                   error=FileNotFoundError)


@pytest.mark.parametrize('bad, expected', [
    ('{"video": "x", \n', 'not JSON'),
    ('["a0", "a"]\n', 'expected an object'),
    ('{"video": "x"}\n', "field 'label'"),
    ('{"video": "", "label": "a"}\n', "field 'video'"),
    ('{"video": 3, "label": "a"}\n', "field 'video'"),
])
def test_bad_jsonl_record_names_line_and_field(tmp_path, store_root, bad,
                                               expected):
    path = write_list(tmp_path, good_records(bad))
    assert_refused(lambda: build(path, store_root), str(path), 'line 7',
                   expected)


@pytest.mark.parametrize('bad', ['just_a_video', '/a0', 'a/'])
def test_bad_split_line(tmp_path, store_root, bad):
    path = tmp_path / 'split.txt'
    path.write_text(f'a/a0\n{bad}\n')
    assert_refused(lambda: build(path, store_root), str(path), 'line 2',
                   "expected 'class/video'")


def test_video_listed_twice(tmp_path, store_root):
    path = write_list(tmp_path,
                      good_records(dict(video='a1', label='b')))
    assert_refused(lambda: build(path, store_root), str(path), 'line 7',
                   "'a1'", 'line 2')


def test_empty_list(tmp_path, store_root):
    path = write_list(tmp_path, ['\n', '  \n'])
    assert_refused(lambda: build(path, store_root), str(path), 'no records')


def test_unknown_class(tmp_path, store_root):
    path = write_list(tmp_path, good_records())
    assert_refused(lambda: build(path, store_root, classes=['a', 'zebra']),
                   str(path), "'zebra'", 'not in the list')


def test_class_with_too_few_videos(tmp_path, store_root):
    path = write_list(tmp_path, good_records(dict(video='c0', label='c')))
    assert_refused(lambda: build(path, store_root), str(path), "'c'",
                   '1 videos', 'num_shots + num_queries = 3')


def test_fewer_classes_than_ways(tmp_path, store_root):
    path = write_list(tmp_path, good_records())
    assert_refused(lambda: build(path, store_root, num_ways=3), str(path),
                   '2 classes', 'num_ways = 3')


def test_video_without_features(tmp_path, store_root):
    path = write_list(tmp_path, good_records(dict(video='ghost',
                                                  label='a')))
    assert_refused(lambda: build(path, store_root), str(path), 'line 7',
                   "'ghost'", str(store_root))


@pytest.mark.parametrize('video, expected', [
    ('layered', 'expected [T, D]'),
    ('short', 'num_frames = 4'),
])
def test_bad_features_are_refused_when_read(tmp_path, store_root, video,
                                            expected):
    records = [dict(video=v, label='a') for v in ('a0', 'a1', video)] + [
        dict(video=f'b{i}', label='b') for i in range(3)]
    path = write_list(tmp_path, records)
    dataset = build(path, store_root, num_shots=2, num_queries=1)
    # every episode holds all 3 videos of each class
    assert_refused(lambda: dataset[0], str(path), 'line 3', repr(video),
                   expected)


def test_episode_mixing_feature_sizes(tmp_path, store_root):
    records = [dict(video=v, label='a') for v in ('a0', 'a1', 'wide')] + [
        dict(video=f'b{i}', label='b') for i in range(3)]
    dataset = build(write_list(tmp_path, records), store_root)
    assert_refused(lambda: dataset[1], 'episode 1', 'dimensions [4, 6]')


@pytest.mark.parametrize('name, value', [('num_ways', 0), ('num_shots', -1),
                                         ('num_frames', 2.0),
                                         ('num_episodes', True)])
def test_non_positive_sizes(tmp_path, store_root, name, value):
    path = write_list(tmp_path, good_records())
    assert_refused(lambda: build(path, store_root, **{name: value}), name,
                   error=ValueError)


def test_pipeline_is_refused(tmp_path, store_root):
    path = write_list(tmp_path, good_records())
    assert_refused(lambda: build(path, store_root, pipeline=[]),
                   'takes no pipeline', error=TypeError)


# --- model ---------------------------------------------------------------
@pytest.fixture
def classifier():
    return FewShotAlignmentClassifier(
        frame_encoder=dict(type='LinearFrameEncoder', in_dim=4))


def test_unknown_metric():
    assert_refused(lambda: FewShotAlignmentClassifier(
        frame_encoder=dict(type='LinearFrameEncoder', in_dim=4),
        metric='euclid'), "'euclid'", error=ValueError)


def test_rows_not_matching_the_episode(tmp_path, store_root, classifier):
    dataset = build(write_list(tmp_path, good_records()), store_root)
    item = dataset[2]
    vfeats = item['inputs']['vfeats'][:-1]  # a query row lost
    inputs = dict(vfeats=[vfeats], vmasks=[item['inputs']['vmasks'][:-1]])
    assert_refused(
        lambda: classifier(inputs, [item['data_samples']], mode='predict'),
        'episode 2', 'expected vfeats [6, F, D]', '[5, 4, 4]',
        error=ValueError)


def test_frame_encoder_feature_size(tmp_path, store_root):
    encoder = LinearFrameEncoder(in_dim=8, out_dim=3)
    assert_refused(lambda: encoder(torch.ones(2, 4, 4), torch.ones(2, 4)),
                   'expects 8-d features', '[2, 4, 4]', error=ValueError)
