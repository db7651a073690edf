"""HD-VILA retrieval datasets on the official jsonl layouts (MSR-VTT
videos, DiDeMo / LSMDC / ActivityNet frame folders) and the collate."""
import random

import pytest
import torch
from mmengine.registry import init_default_scope
from transformers import BertTokenizer

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pipeline
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import make_retrieval_data, write_jsonl
from vtg_plugins.registry import DATASETS

SMALL = dict(resize_size=(18, 28), crop_size=(16, 24))


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def build(data, max_txt_len=12, vis_format='video', pipeline=None, **kw):
    return DATASETS.build(
        dict(
            type='HDVILAVideoRetrievalDataset',
            ann_file=data.ann_file,
            vocab_file=data.vocab_file,
            max_txt_len=max_txt_len,
            vis_format=vis_format,
            data_prefix=data.data_prefix,
            pipeline=pipeline if pipeline is not None else [],
            **kw))


def official_ids(data, text, max_len):
    slow = BertTokenizer(data.vocab_file)
    row = slow.encode(text, max_length=max_len, truncation=True)
    return row + [0] * (max_len - len(row))


def test_msrvtt_items(tmp_path):
    data = make_retrieval_data(tmp_path, num_videos=3)
    ds = build(data, pipeline=hd_vila_pipeline('video', False, 2, **SMALL))
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        sample = item['data_samples']
        assert sample.video_id == f'video{i}' and sample.qid == i
        assert sample.filename.endswith(f'videos_6fps/video{i}.mp4')
        assert sample.text_ids.dtype == torch.long
        assert sample.text_ids.tolist() == official_ids(
            data, data.records[i]['text'], 12)
        assert sample.text_mask.tolist() == [
            int(t != 0) for t in sample.text_ids.tolist()
        ]
        assert item['inputs']['keyframes'].shape == (2, 3, 64, 96)
        assert item['inputs']['frames'].shape == (2, 6, 3, 16, 24)
        assert item['inputs']['frames'].dtype == torch.uint8


def test_clip_id_path_part_is_dropped_for_videos(tmp_path):
    data = make_retrieval_data(tmp_path, num_videos=1)
    data.records[0]['clip_id'] = 'msrvtt/video0'
    write_jsonl(data.ann_file, data.records)
    info = build(data).get_data_info(0)
    assert info['filename'].endswith('videos_6fps/video0.mp4')
    assert info['clip_id'] == 'msrvtt/video0'


def test_caption_lists_draw_one_caption_as_official(tmp_path):
    data = make_retrieval_data(tmp_path, num_videos=2, caption_lists=True)
    ds = build(data)
    for seed in range(6):
        random.seed(seed)
        expected = random.sample(data.records[1]['text'], 1)[0]
        random.seed(seed)
        info = ds.get_data_info(1)
        assert info['text_ids'].tolist() == official_ids(data, expected, 12)
        assert info['captions'] == data.records[1]['text']


def test_frame_folder_items(tmp_path):
    data = make_retrieval_data(
        tmp_path, vis_format='frame', num_videos=2, num_frames=[25, 31])
    ds = build(
        data,
        vis_format='frame',
        pipeline=hd_vila_pipeline(
            'frame', False, 3, num_frm=5, sample_rate=2, crop_size=(16, 24)))
    info = ds.get_data_info(1)
    assert info['total_frames'] == 31  # from the record's num_frame
    assert info['clip_id'] == 'movie1/clip1'
    item = ds[1]
    # full-resolution frames 36x56 resized to 4 x 18x28, cropped 64x96
    assert item['inputs']['keyframes'].shape == (3, 3, 64, 96)
    assert item['inputs']['frames'].shape == (3, 4, 3, 16, 24)


def test_low_res_root_defaults_to_the_official_rule(tmp_path):
    data = make_retrieval_data(tmp_path, vis_format='frame', num_videos=1)
    data.data_prefix = dict(frames=data.data_prefix['frames'])
    ds = build(data, vis_format='frame')
    assert ds.data_prefix['lr_frames'] == str(tmp_path / 'video_frames_lr')


def test_collate_pads_to_the_batch_longest(tmp_path):
    data = make_retrieval_data(tmp_path, num_videos=3)
    ds = build(
        data,
        max_txt_len=20,
        pipeline=hd_vila_pipeline('video', False, 2, **SMALL))
    items = [ds[i] for i in range(3)]
    lengths = [int(it['data_samples'].text_mask.sum()) for it in items]
    full = [it['data_samples'].text_ids.clone() for it in items]
    batch = hd_vila_collate(items)
    assert batch['inputs']['keyframes'].shape == (3, 2, 3, 64, 96)
    assert batch['inputs']['frames'].shape == (3, 2, 6, 3, 16, 24)
    assert batch['inputs']['keyframes'].dtype == torch.uint8
    for sample, ids, length in zip(batch['data_samples'], full, lengths):
        assert sample.text_ids.tolist() == ids[:max(lengths)].tolist()
        assert int(sample.text_mask.sum()) == length
    assert max(lengths) < 20  # the trim did cut padding
    kept = hd_vila_collate([ds[0], ds[1]], trim=False)
    assert kept['data_samples'][0].text_ids.shape == (20, )


def test_runner_builds_a_loader_with_the_dotted_collate(tmp_path):
    from mmengine.runner import Runner
    data = make_retrieval_data(tmp_path, num_videos=3)
    loader = Runner.build_dataloader(
        dict(
            dataset=dict(
                type='HDVILAVideoRetrievalDataset',
                ann_file=data.ann_file,
                vocab_file=data.vocab_file,
                max_txt_len=12,
                data_prefix=data.data_prefix,
                pipeline=hd_vila_pipeline('video', False, 2, **SMALL)),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(
                type='vtg_hd_vila.datasets.collate.hd_vila_collate')))
    batch = next(iter(loader))
    assert batch['inputs']['frames'].shape == (2, 2, 6, 3, 16, 24)
    assert [s.qid for s in batch['data_samples']] == [0, 1]
