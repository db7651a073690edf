"""vtg_tstl GroupLabelDataset: the selector's group labels and an expert's
subset of an official video list, with their errors."""
import json
from collections import Counter

import pytest
from mmengine.registry import DefaultScope

from vtg_tstl.datasets import ClassBalancedBatchSampler, GroupLabelDataset

# groups of classes 0..4: 1, 0, 0, 1, 2 (a group whose order is not sorted)
GROUPS = {
    'class_to_head': {'0': 1, '1': 0, '2': 0, '3': 1, '4': 2},
    'num_classes': 5
}


def _grouping(tmp_path, doc):
    path = tmp_path / 'grouping.json'
    path.write_text(json.dumps(doc))
    return path



def _video_list(tmp_path, labels, blank_after=None):
    lines = [f'v{i}.mp4 {c}' for i, c in enumerate(labels)]
    if blank_after is not None:
        lines.insert(blank_after, '')
    path = tmp_path / 'train.csv'
    path.write_text('\n'.join(lines) + '\n')
    return path


def _dataset_cfg(ann, kind='TSTLVideoDataset', num_classes=5):
    cfg = dict(
        type=kind,
        ann_file=str(ann),
        pipeline=[],
        data_prefix=dict(video='videos'))
    if kind == 'TSTLVideoDataset':
        cfg['num_classes'] = num_classes
    return cfg


@pytest.fixture
def scope():
    with DefaultScope.overwrite_default_scope('vtg_plugins'):
        yield


def test_selector_role_maps_labels_to_groups(tmp_path, scope):
    grouping = _grouping(tmp_path, GROUPS)  # groups of 0..4: 1, 0, 0, 1, 2
    ann = _video_list(tmp_path, [0, 1, 2, 3, 4, 4, 0])
    ds = GroupLabelDataset(_dataset_cfg(ann), grouping, role='selector')
    assert len(ds) == 7
    assert [ds.get_data_info(i)['label']
            for i in range(7)] == [1, 0, 0, 1, 2, 2, 1]
    # the label is replaced before the pipeline (here: none), so packing
    # transforms see the group id
    item = ds[3]
    assert item['label'] == 1 and item['filename'] == 'videos/v3.mp4'
    assert ds.metainfo['tstl_role'] == 'selector'
    assert ds.metainfo['num_groups'] == 3


def test_expert_role_keeps_its_classes_with_global_labels(tmp_path, scope):
    grouping = _grouping(tmp_path, GROUPS)
    ann = _video_list(tmp_path, [0, 1, 2, 3, 4, 4, 0])
    ds = GroupLabelDataset(
        _dataset_cfg(ann), grouping, role='expert', group=1)  # classes 3, 0
    assert [ds.get_data_info(i)['label'] for i in range(len(ds))] == [0, 3, 0]
    assert [ds[i]['filename'] for i in range(len(ds))
            ] == ['videos/v0.mp4', 'videos/v3.mp4', 'videos/v6.mp4']


def test_unmapped_class_names_file_line_and_video(tmp_path, scope):
    grouping = _grouping(tmp_path, {'class_to_head': {'0': 0, '1': 1}})
    ann = _video_list(tmp_path, [0, 1, 4, 0], blank_after=1)
    with pytest.raises(ValueError) as e:
        GroupLabelDataset(_dataset_cfg(ann), grouping, role='expert', group=0)
    msg = str(e.value)
    assert f'{ann} line 4 (video videos/v2.mp4)' in msg
    assert 'class 4 is not in the class grouping' in msg
    # MMAction2's VideoDataset has no line: the record index is named
    with pytest.raises(
            ValueError,
            match=r'train.csv: record 2 \(video '
            r'videos/v2.mp4\): .*class 4 is not'):
        GroupLabelDataset(
            _dataset_cfg(_video_list(tmp_path, [0, 1, 4]), 'VideoDataset'),
            grouping)


def test_lazy_init_and_argument_errors(tmp_path, scope):
    grouping = _grouping(tmp_path, GROUPS)
    ann = _video_list(tmp_path, [0, 1, 2])
    ds = GroupLabelDataset(_dataset_cfg(ann), grouping, lazy_init=True)
    assert not ds._fully_initialized
    ds.full_init()
    assert len(ds) == 3
    with pytest.raises(ValueError, match="role='expert' needs `group`"):
        GroupLabelDataset(_dataset_cfg(ann), grouping, role='expert')
    with pytest.raises(ValueError, match="`group` is for role='expert'"):
        GroupLabelDataset(_dataset_cfg(ann), grouping, group=0)
    with pytest.raises(ValueError, match='role must be one of'):
        GroupLabelDataset(_dataset_cfg(ann), grouping, role='teacher')
    with pytest.raises(ValueError, match='group 3 does not exist'):
        GroupLabelDataset(_dataset_cfg(ann), grouping, role='expert', group=3)
    with pytest.raises(ValueError, match='no record of group 2'):
        GroupLabelDataset(_dataset_cfg(ann), grouping, role='expert', group=2)
    with pytest.raises(ValueError, match='num_classes is 5 but 6 classes'):
        GroupLabelDataset(_dataset_cfg(ann), grouping, num_classes=6)


def test_selector_batches_balance_groups(tmp_path, scope):
    # the official selector's sampler balances group ids: 4 groups x 2 clips
    doc = {'class_to_head': {str(c): c // 2 for c in range(10)}}
    grouping = _grouping(tmp_path, doc)
    labels = [c for c in range(10) for _ in range(3)]
    ds = GroupLabelDataset(
        _dataset_cfg(_video_list(tmp_path, labels), num_classes=10), grouping)
    sampler = ClassBalancedBatchSampler(ds, seed=0)
    for batch in sampler:
        groups = Counter(ds.get_data_info(i)['label'] for i in batch)
        assert len(groups) == 4 and set(groups.values()) == {2}
