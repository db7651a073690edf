"""HowTo100M pre-training data in MMPT's sharded layout: the synthetic
writer, the shard reader (and the official ShardedTensor fixture), the
groups, the clip rows and the packing of an item.

Expected values are read from the written files with plain ``np.load``,
independently of the dataset's reader."""
import json
import pickle
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vtg_plugins.testing.refs import ref_path
from vtg_tempclr.datasets import How2ShardedDataset
from vtg_tempclr.datasets.clip_sampling import (Captions, sample_aligned_clip,
                                                sample_overlapped_clip,
                                                sort_clips)
from vtg_tempclr.datasets.sharded_tensor import ShardedTensorFile
from vtg_tempclr.models.data_preprocessor import TempCLRDataPreprocessor
from vtg_tempclr.testing import write_how2_shards

SPECIAL = dict(cls_id=2, sep_id=3, pad_id=0)
CLIPS = 5


@pytest.fixture(scope='module')
def how2(tmp_path_factory):
    return write_how2_shards(
        tmp_path_factory.mktemp('how2'),
        num_videos=26,
        shard_size=5,
        feature_dim=8,
        seed=3)


@pytest.fixture
def global_random():
    """Seed python's global generator for a test, then restore it."""
    state = random.getstate()
    yield random
    random.setstate(state)


def _dataset(how2, **kwargs):
    kwargs = {
        **dict(
            special_tokens=SPECIAL,
            num_video_per_batch=4,
            clip_per_video=CLIPS,
            group_multiple=2),
        **kwargs
    }
    return How2ShardedDataset(**how2, **kwargs)


def _raw(prefix, i):
    starts = np.load(f'{prefix}_starts.npy')
    return np.load(f'{prefix}_data.npy')[starts[i]:starts[i + 1]]


def _video(how2, video_id):
    """(features [T, D], (start, end) [n, 2], token lists) of a video."""
    with open(f'{how2["vfeat_dir"]}/train_meta.pkl', 'rb') as f:
        meta = pickle.load(f)
    shard, pos = next(
        (s, ids.index(video_id)) for s, ids in meta.items() if video_id in ids)
    caps = _raw(f'{how2["tfeat_dir"]}train_{shard}.caps_ids', pos)
    return (_raw(f'{how2["vfeat_dir"]}/train_{shard}',
                 pos), _raw(f'{how2["tfeat_dir"]}train_{shard}.startends',
                            pos), [row[row != -1].tolist() for row in caps])


def _list(how2):
    with open(how2['ann_file']) as f:
        return f.read().split()


def _captions(times, tokens):
    return Captions(times[:, 0].tolist(), times[:, 1].tolist(),
                    [len(t) for t in tokens])


# --- writer and reader -------------------------------------------------------
def test_writer_lays_out_sorted_windows_inside_each_video(how2):
    ids = _list(how2)
    assert sorted(ids) == [f'vid{i:05d}' for i in range(26)]
    assert ids != sorted(ids)  # the list order is not the meta order
    with open(f'{how2["vfeat_dir"]}/train_meta.pkl', 'rb') as f:
        meta = pickle.load(f)
    assert [len(v) for v in meta.values()] == [5, 5, 5, 5, 5, 1]
    for video_id in ids:
        features, times, tokens = _video(how2, video_id)
        assert features.dtype == np.float32 and features.shape[1] == 8
        assert len(times) == len(tokens) >= 1
        flat = times.reshape(-1)
        assert np.all(np.diff(flat) >= 0) and flat[0] >= 0
        assert flat[-1] <= len(features)
        assert all(tokens) and min(min(t) for t in tokens) >= 5
        assert max(max(t) for t in tokens) < 40


def test_official_sharded_tensor_example_reads_back():
    root = ref_path('tempclr', 'sharded_example')
    layout = json.loads((root / 'layout.json').read_text())
    shard = ShardedTensorFile(root / 'train_0')
    data = np.load(root / 'train_0_data.npy')
    assert shard.starts.tolist() == layout['starts']
    assert shard.lengths().tolist() == layout['lengths']
    assert [list(shard[i].shape) for i in range(len(shard))] == \
        layout['item_shapes']
    np.testing.assert_array_equal(
        np.concatenate([shard[i] for i in range(len(shard))]), data)
    again = pickle.loads(pickle.dumps(shard))
    np.testing.assert_array_equal(again[2], data[3:6])
    with pytest.raises(IndexError, match='item 3 out of range'):
        shard[3]


# --- groups ------------------------------------------------------------------
def test_first_groups_are_list_chunks_cut_to_a_group_multiple(how2):
    ds = _dataset(how2)
    ids = _list(how2)
    assert len(ds) == 6  # 26 // (2 * 4) * 2
    assert [ds.get_data_info(i)['video_ids'] for i in range(6)] == \
        [ids[4 * i:4 * i + 4] for i in range(6)]
    assert ds.video_ids == ids
    assert len(_dataset(how2, group_multiple=4)) == 4  # 26 // 16 * 4, not 6
    with pytest.raises(ValueError, match='holds 26 videos, fewer than'):
        _dataset(how2, group_multiple=8)


@pytest.mark.parametrize('serialize', [True, False])
def test_set_groups_replaces_the_items(how2, serialize, global_random):
    ds = _dataset(how2, serialize_data=serialize)
    ids = _list(how2)
    groups = [ids[20:22], ids[0:3], ids[7:8]]
    ds.set_groups(groups)
    assert len(ds) == 3
    assert [ds.get_data_info(i)['video_ids'] for i in range(3)] == groups
    global_random.seed(0)
    item = ds[1]
    assert [s.video_id for s in item['data_samples']] == ids[0:3]
    assert len(item['inputs']['vfeats']) == 3 * CLIPS
    with pytest.raises(ValueError, match="group 1 names video 'nope'"):
        ds.set_groups([ids[:2], ['nope']])
    with pytest.raises(ValueError, match='group 0 is empty'):
        ds.set_groups([[]])
    assert len(ds) == 3  # a refused call leaves the groups


# --- items -------------------------------------------------------------------
def test_item_rows_hold_the_clips_features_and_caption_ids(
        how2, global_random):
    ds = _dataset(how2)
    global_random.seed(11)
    item = ds[2]
    inputs, samples = item['inputs'], item['data_samples']
    assert [s.video_id for s in samples] == _list(how2)[8:12]
    assert inputs['vfeats'].shape == (4 * CLIPS, 32, 8)
    assert inputs['caps'].shape == (4 * CLIPS, 64)
    for v, sample in enumerate(samples):
        assert sample.num_video_rows == sample.num_text_rows == CLIPS
        features, _, tokens = _video(how2, sample.video_id)
        for c in range(CLIPS):
            row = v * CLIPS + c
            vs, ve = int(sample.video_start[c]), int(sample.video_end[c])
            ts, te = int(sample.text_start[c]), int(sample.text_end[c])
            length = min(32, ve - vs)
            assert length >= 1
            torch.testing.assert_close(
                inputs['vfeats'][row, :length],
                torch.from_numpy(features[vs:vs + length]))
            assert not inputs['vfeats'][row, length:].any()
            assert inputs['vmasks'][row].sum() == length
            body = [t for ids in tokens[ts:te] for t in ids][:61]
            ids = [2, 3] + body + [3]
            assert inputs['caps'][row, :len(ids)].tolist() == ids
            assert not inputs['caps'][row, len(ids):].any()
            assert inputs['cmasks'][row].sum() == len(ids)
        for key in ('text_start', 'text_end', 'video_start', 'video_end'):
            assert sample.get(key).dtype == torch.long
            assert sample.get(key).shape == (CLIPS, )


def test_item_draws_clips_from_the_global_generator_in_official_order(
        how2, global_random):
    ds = _dataset(how2)
    global_random.seed(5)
    samples = ds[0]['data_samples']
    rng = random.Random(5)
    for sample in samples:
        features, times, tokens = _video(how2, sample.video_id)
        expected = sort_clips([
            sample_overlapped_clip(
                _captions(times, tokens), len(features), rng)
            for _ in range(CLIPS)
        ])
        got = list(
            zip(*(sample.get(k).tolist()
                  for k in ('text_start', 'text_end', 'video_start',
                            'video_end'))))
        assert got == [tuple(c) for c in expected]


def test_retrieval_inputs_align_video_windows_with_captions(how2):
    ds = _dataset(how2)
    video_id = _list(how2)[3]
    features, times, tokens = _video(how2, video_id)
    rows = ds.retrieval_inputs(video_id, random.Random(9))
    rng = random.Random(9)
    clips = sort_clips([
        sample_aligned_clip(_captions(times, tokens), len(features), rng)
        for _ in range(CLIPS)
    ])
    assert rows['video_start'].tolist() == [c.video_start for c in clips]
    assert rows['text_end'].tolist() == [c.text_end for c in clips]
    for c, clip in enumerate(clips):
        assert clip.video_start == int(np.floor(times[clip.text_start, 0]))
        length = min(32, clip.video_end - clip.video_start)
        assert rows['vmasks'][c].sum() == length


def test_special_tokens_come_from_the_vocab_file(how2, tiny_vocab):
    ds = _dataset(how2, special_tokens=None, vocab_file=str(tiny_vocab))
    assert tuple(ds.special) == (2, 3, 0)
    with pytest.raises(ValueError, match='give one of vocab_file'):
        _dataset(how2, special_tokens=None)
    with pytest.raises(ValueError, match='give one of vocab_file'):
        _dataset(how2, vocab_file=str(tiny_vocab))


def _item_lists(items):
    """A batch as ``TempCLRDataPreprocessor`` reads it: the items' inputs
    and sample lists, item by item."""
    return dict(
        inputs=[i['inputs'] for i in items],
        data_samples=[i['data_samples'] for i in items])


def test_workers_read_items_the_preprocessor_concatenates(how2):
    """Items built in a forked worker (the reader maps the shards there)
    batch through ``TempCLRDataPreprocessor``."""
    ds = _dataset(how2)
    loader = DataLoader(
        ds, batch_size=2, num_workers=1, collate_fn=_item_lists)
    batch = TempCLRDataPreprocessor()(next(iter(loader)))
    assert batch['inputs']['vfeats'].shape == (2 * 4 * CLIPS, 32, 8)
    assert batch['inputs']['caps'].shape == (2 * 4 * CLIPS, 64)
    assert [s.video_id for s in batch['data_samples']] == _list(how2)[:8]
