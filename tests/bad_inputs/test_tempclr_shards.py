"""Bad HowTo100M shards (MMPT layout): each is refused with an error naming
the file, the record (shard, item, video, caption, line) and what is wrong.

A good set is written by ``write_how2_shards`` and then damaged. Structural
faults fail when the dataset opens; a video's caption faults fail when the
video is read (checking all captions up front would take long at
HowTo100M scale)."""
import pickle

import numpy as np
import pytest

from vtg_plugins.utils.io import atomic_save_npy, atomic_write_bytes
from vtg_tempclr.datasets import How2ShardedDataset
from vtg_tempclr.testing import write_how2_shards, write_sharded_tensor

VIDEO = 'vid00001'  # shard 0, item 1


@pytest.fixture
def how2(tmp_path):
    return write_how2_shards(
        tmp_path, num_videos=8, shard_size=4, feature_dim=4, seed=0)


def _open(how2):
    return How2ShardedDataset(
        **how2,
        special_tokens=dict(cls_id=2, sep_id=3, pad_id=0),
        num_video_per_batch=2,
        clip_per_video=2,
        group_multiple=1)


def _items(prefix):
    starts = np.load(f'{prefix}_starts.npy')
    data = np.load(f'{prefix}_data.npy')
    return [data[a:b].copy() for a, b in zip(starts[:-1], starts[1:])]


def _edit(prefix, pos, fn):
    """Rewrite item ``pos`` of a shard as ``fn(item)``."""
    items = _items(prefix)
    items[pos] = fn(items[pos])
    write_sharded_tensor(prefix, items)


def _video(how2):
    return f'{how2["vfeat_dir"]}/train_0'


def _caption(how2, kind):
    return f'{how2["tfeat_dir"]}train_0.{kind}'


def _num_frames(how2):
    return len(_items(_video(how2))[1])


def _set_time(how2, j, col, value):

    def fn(times):
        times[j, col] = value
        return times

    _edit(_caption(how2, 'startends'), 1, fn)


# --- shard files -------------------------------------------------------------
def test_starts_not_ending_at_the_data_rows(how2):
    prefix = _video(how2)
    starts = np.load(f'{prefix}_starts.npy')
    starts[-1] += 2
    atomic_save_npy(f'{prefix}_starts.npy', starts)
    with pytest.raises(
            ValueError,
            match=r'corrupt packed shard file .*'
            r'train_0_data\.npy: \[\d+, 4\] rows but '
            r'train_0_starts\.npy ends at'):
        _open(how2)


def test_decreasing_starts(how2):
    prefix = _caption(how2, 'startends')
    starts = np.load(f'{prefix}_starts.npy')
    starts[2] = starts[3] + 1
    atomic_save_npy(f'{prefix}_starts.npy', starts)
    with pytest.raises(
            ValueError,
            match=r'startends_starts\.npy: .*not '
            r'decrease.*\(item 2: starts\[2\] = \d+ > '
            r'starts\[3\]'):
        _open(how2)


def test_meta_naming_a_missing_shard(how2):
    meta_path = f'{how2["vfeat_dir"]}/train_meta.pkl'
    with open(meta_path, 'rb') as f:
        meta = pickle.load(f)
    meta[7] = ['ghost']
    atomic_write_bytes(meta_path, pickle.dumps(meta))
    with pytest.raises(
            FileNotFoundError,
            match=r'train_meta\.pkl names '
            r'shard 7, but shard file .*train_7_starts\.npy does '
            r'not exist'):
        _open(how2)


def test_meta_listing_more_videos_than_the_shard_holds(how2):
    meta_path = f'{how2["vfeat_dir"]}/train_meta.pkl'
    with open(meta_path, 'rb') as f:
        meta = pickle.load(f)
    meta[1].append('extra')
    atomic_write_bytes(meta_path, pickle.dumps(meta))
    with pytest.raises(
            ValueError,
            match=r'train_1_starts\.npy holds 4 items '
            r'but shard meta .*lists 5 videos for shard 1'):
        _open(how2)


def test_video_listed_in_two_shards(how2):
    meta_path = f'{how2["vfeat_dir"]}/train_meta.pkl'
    with open(meta_path, 'rb') as f:
        meta = pickle.load(f)
    meta[1][0] = VIDEO
    atomic_write_bytes(meta_path, pickle.dumps(meta))
    with pytest.raises(
            ValueError,
            match=f"video '{VIDEO}' is listed in "
            'shard 0 and in shard 1'):
        _open(how2)


def test_caption_times_and_ids_disagree_on_the_caption_count(how2):
    _edit(
        _caption(how2, 'caps_ids'), 1, lambda rows: rows[:-1]
        if len(rows) > 1 else np.concatenate([rows, rows]))
    with pytest.raises(
            ValueError,
            match=f"video '{VIDEO}' \\(shard 0 item "
            r"1\): .*startends_starts\.npy gives it \d+ captions"):
        _open(how2)


# --- the video list ----------------------------------------------------------
def test_listed_video_missing_from_the_meta(how2):
    with open(how2['ann_file']) as f:
        lines = f.read().splitlines()
    lines[3] = 'not_a_video'
    with open(how2['ann_file'], 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with pytest.raises(
            ValueError,
            match=r"how2_s3d_train\.lst: line 4: video "
            r"'not_a_video' is not in shard meta .*train_meta"):
        _open(how2)


def test_blank_line_in_the_list(how2):
    with open(how2['ann_file'], 'a') as f:
        f.write('\nvid00002\n')
    with pytest.raises(ValueError, match=r'line 9 is empty'):
        _open(how2)


# --- one video's captions ----------------------------------------------------
def test_caption_starting_before_zero(how2):
    _set_time(how2, 0, 0, -0.5)
    ds = _open(how2)
    with pytest.raises(
            ValueError,
            match=r"startends_data\.npy: video "
            f"'{VIDEO}' \\(shard 0 item 1\\), caption 0 \\(start "
            r'-0\.5, .*starts before 0'):
        ds.read_video(VIDEO)


def test_caption_ending_after_the_video_beyond_the_tolerance(how2):
    num_frames = _num_frames(how2)
    _set_time(how2, -1, 1, num_frames + 0.9)  # within 1 s: accepted
    _open(how2).read_video(VIDEO)
    _set_time(how2, -1, 1, num_frames + 1.5)
    with pytest.raises(
            ValueError,
            match=f"'{VIDEO}'.*caption \\d+ .*ends "
            f'after the video \\({num_frames} steps \\+ '
            r'caption_end_tolerance 1\.0 s\)'):
        _open(how2).read_video(VIDEO)


def test_caption_ending_before_it_starts(how2):

    def fn(times):
        times[0, 1] = times[0, 0] - 0.0005  # MMPT's dedup slack: accepted
        return times

    _edit(_caption(how2, 'startends'), 1, fn)
    _open(how2).read_video(VIDEO)

    def worse(times):
        times[0, 1] = times[0, 0] - 0.5
        return times

    _edit(_caption(how2, 'startends'), 1, worse)
    with pytest.raises(
            ValueError, match=f"'{VIDEO}'.*caption 0 .*ends "
            'before it starts'):
        _open(how2).read_video(VIDEO)


def test_caption_time_not_finite(how2):
    _set_time(how2, 0, 1, np.nan)
    with pytest.raises(ValueError, match='caption 0 .*is not finite'):
        _open(how2).read_video(VIDEO)


def test_empty_caption(how2):

    def fn(rows):
        rows[0] = -1
        return rows

    _edit(_caption(how2, 'caps_ids'), 1, fn)
    ds = _open(how2)
    with pytest.raises(
            ValueError,
            match=r"caps_ids_data\.npy: video "
            f"'{VIDEO}' \\(shard 0 item 1\\), caption 0 is empty "
            r'\(all -1\)'):
        ds.read_video(VIDEO)
    group = next(
        i for i in range(len(ds)) if VIDEO in ds.get_data_info(i)['video_ids'])
    with pytest.raises(ValueError, match='caption 0 is empty'):
        ds[group]  # items surface the same error


def test_video_without_captions(how2):
    _edit(_caption(how2, 'startends'), 1, lambda times: times[:0])
    _edit(_caption(how2, 'caps_ids'), 1, lambda rows: rows[:0])
    with pytest.raises(
            ValueError,
            match=f"startends_data\\.npy: video "
            f"'{VIDEO}' \\(shard 0 item 1\\) has no caption"):
        _open(how2).read_video(VIDEO)


def test_video_without_features(how2):
    _edit(_video(how2), 1, lambda features: features[:0])
    with pytest.raises(
            ValueError,
            match=f"train_0_data\\.npy: video "
            f"'{VIDEO}' \\(shard 0 item 1\\) has no feature step"):
        _open(how2).read_video(VIDEO)
