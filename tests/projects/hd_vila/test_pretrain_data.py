"""HD-VILA pre-training data against the official loader's rules: the clip
draw, the 720p resize and crop window (drawn in the official order), the
keyframe / 1/4 frames split, the two file layouts, the caption rows, ITM
negatives, and a batch through the collate into the tiny stage-1 / stage-2
models.

Reference frames are read straight from the file with decord; the expected
images are built here from the official operations: ``F.interpolate``
nearest (an exact 2x repeat or 2x decimation for the sizes used), the crop
offsets, OpenCV's bicubic /4 and x4 resizes.
"""
import importlib.util
import random
from pathlib import Path

import cv2
import decord
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from transformers import BertTokenizer

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pretrain_pipeline
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import CAPTIONS, write_video
from vtg_hd_vila.testing_pretrain import make_pretrain_data
from vtg_plugins.registry import DATASETS, MODELS

_spec = importlib.util.spec_from_file_location(
    '_hd_vila_stand_ins',
    Path(__file__).with_name('stand_ins.py'))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

#: a 36x56 video enlarged to 72x112 and a 64x96 window: x in [0, 8], y in
#: [0, 16]; keyframes 64x96, frames 16x24
SMALL = dict(frame_size=(72, 112), crop_size=(64, 96))
#: special tokens of the tiny vocabulary of ``vtg_hd_vila.testing``:
#: [PAD] [UNK] [CLS] [SEP] [MASK]
TINY_SPECIAL_IDS = (0, 2, 3, 4, 5)
TINY_MASK = 5


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Four nested clips of 80, 83, 86, 89 frames (36x56)."""
    return make_pretrain_data(tmp_path_factory.mktemp('pre'), num_frames=80)


def build(data, pipeline=(), **kw):
    return DATASETS.build(
        dict(
            type='HDVILAPretrainDataset',
            ann_file=data.ann_file,
            vocab_file=data.vocab_file,
            max_txt_len=kw.pop('max_txt_len', 12),
            data_prefix=data.data_prefix,
            pipeline=list(pipeline),
            **kw))


def unpack(item):
    """keyframes ``[C, Hk, Wk, 3]`` and frames ``[C, T-1, h, w, 3]``."""
    key, frames = item['inputs']['keyframes'], item['inputs']['frames']
    assert key.dtype == frames.dtype == torch.uint8
    return (key.permute(0, 2, 3, 1).numpy(), frames.permute(0, 1, 3, 4,
                                                            2).numpy())


def decoded(path, inds):
    """``[*inds.shape, H, W, 3]`` frames as decord reads them."""
    frames = decord.VideoReader(path).get_batch(inds.reshape(-1).tolist())
    return frames.asnumpy().reshape(*inds.shape, *frames.shape[1:])


def quarter(img):
    return cv2.resize(
        img, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_CUBIC)


def official_ids(data, text, max_len):
    row = BertTokenizer(data.vocab_file).encode(
        text, max_length=max_len, truncation=True)
    return row + [0] * (max_len - len(row))


def test_pipeline_defaults_are_the_official_configs():
    pipe = hd_vila_pretrain_pipeline()
    assert [t['type'] for t in pipe] == [
        'HDVILAVideoInit', 'SampleHDVILAClips', 'HDVILAVideoDecode',
        'HDVILAPretrainResizeCrop', 'PackHDVILAInputs'
    ]
    # pretrain_stage{1,2}.json: train_n_clips 2, num_frm 7, sample_rate 12;
    # random clips also in validation (the official loader has no other)
    assert pipe[1] == dict(
        type='SampleHDVILAClips',
        n_clips=2,
        num_frm=7,
        sample_rate=12,
        random_clips=True)
    assert pipe[3] == dict(
        type='HDVILAPretrainResizeCrop',
        frame_size=(720, 1280),
        crop_size=(640, 1024),
        keyframe='high_res')


def test_official_sizes_from_a_small_video(data):
    random.seed(0)
    item = build(data, hd_vila_pretrain_pipeline())[0]
    key, frames = unpack(item)
    assert key.shape == (2, 640, 1024, 3)
    assert frames.shape == (2, 6, 160, 256, 3)
    sample = item['data_samples']
    x, y, h, w = sample.crop_box
    assert (h, w) == (640, 1024) and 0 <= x <= 80 and 0 <= y <= 256
    # the official resize of a 36x56 frame to 720p, then the window
    ref = torch.from_numpy(decoded(sample.filename, sample.frame_inds[1]))
    big = F.interpolate(ref.permute(0, 3, 1, 2).float(), size=(720, 1280))
    crop = big.permute(0, 2, 3, 1).to(torch.uint8).numpy()[:, x:x + 640,
                                                           y:y + 1024]
    assert np.array_equal(key[1], crop[3])
    assert np.array_equal(frames[1, 4], quarter(crop[5]))


def test_clip_draw_then_window_in_the_official_order(data):
    path = data.data_prefix['video'] + '/yt0/yt0.0.mp4'  # 80 frames
    for seed in (0, 1, 2):
        random.seed(seed)
        # r = 3 neighbours at rate 12: middles in [36, 80 - 36)
        middles = sorted(random.sample(list(range(36, 44)), 2))
        x, y = random.randint(0, 8), random.randint(0, 16)
        random.seed(seed)
        item = build(data, hd_vila_pretrain_pipeline(**SMALL))[0]
        sample = item['data_samples']
        assert sample.filename == path
        expected = np.array(middles)[:, None] + 12 * np.arange(-3, 4)
        assert sample.frame_inds.tolist() == expected.tolist()
        assert sample.crop_box == (x, y, 64, 96)
        assert 'flip' not in sample  # the official loader never flips
        big = decoded(path, expected).repeat(2, axis=2).repeat(2, axis=3)
        crop = big[:, :, x:x + 64, y:y + 96]
        key, frames = unpack(item)
        assert np.array_equal(key, crop[:, 3])
        small = [[quarter(f) for f in clip[[0, 1, 2, 4, 5, 6]]]
                 for clip in crop]
        assert frames.shape == (2, 6, 16, 24, 3)
        assert np.array_equal(frames, np.array(small))


def test_short_clip_is_read_at_a_lowered_rate(tmp_path):
    data = make_pretrain_data(tmp_path, num_clips=1, num_frames=30)
    item = build(data, hd_vila_pretrain_pipeline(**SMALL))[0]
    inds = item['data_samples'].frame_inds
    # 30 < 2 * 3 * 12 + 2: rate floor((30 - 2) / 6) = 4, middles [12, 18)
    assert (np.diff(inds, axis=1) == 4).all()
    assert set(inds[:, 3]) <= set(range(12, 18))
    assert inds[0, 3] < inds[1, 3]


def test_other_sizes_are_resized_nearest(tmp_path):
    data = make_pretrain_data(tmp_path, num_clips=1, size=(72, 112))
    random.seed(5)
    item = build(
        data,
        hd_vila_pretrain_pipeline(frame_size=(36, 56), crop_size=(32, 48)))[0]
    x, y, _, _ = item['data_samples'].crop_box
    ref = decoded(item['data_samples'].filename,
                  item['data_samples'].frame_inds)[:, :, ::2, ::2]
    crop = ref[:, :, x:x + 32, y:y + 48]
    key, frames = unpack(item)
    assert np.array_equal(key, crop[:, 3])
    assert np.array_equal(frames[1, 2], quarter(crop[1, 2]))
    assert frames.shape == (2, 6, 8, 12, 3)


def test_upsample_keyframe_option_of_the_180p_path(data):
    random.seed(1)
    item = build(
        data,
        hd_vila_pretrain_pipeline(
            frame_size=(36, 56), crop_size=(16, 24), keyframe='upsample'))[1]
    x, y, _, _ = item['data_samples'].crop_box
    crop = decoded(item['data_samples'].filename,
                   item['data_samples'].frame_inds)[:, :, x:x + 16, y:y + 24]
    key, frames = unpack(item)
    assert np.array_equal(frames, crop[:, [0, 1, 2, 4, 5, 6]])
    assert key.shape == (2, 64, 96, 3)
    assert np.array_equal(
        key[0],
        cv2.resize(
            crop[0, 3], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))


def test_items_fit_the_video_encoder_and_full_size_frames_do_not(data):
    """The 1/4 frames made here run through ``HDVILAVideoEncoder``; frames
    at the crop size (what the official ``get_images`` bug returns) give a
    grid 4x the keyframe's and are refused, as the official model fails on
    them."""
    ds = build(
        data,
        hd_vila_pretrain_pipeline(
            num_frm=3, sample_rate=4, frame_size=(72, 112),
            crop_size=(64, 64)))
    batch = hd_vila_collate([ds[0], ds[1]])
    torch.manual_seed(0)
    encoder = MODELS.build(
        dict(
            type='HDVILAVideoEncoder',
            hidden_size=16,
            resnet_depth=18,
            timesformer_depth=1,
            timesformer_heads=2,
            num_frames=3,
            grid_size=(1, 1),
            fused_attn=False)).eval()
    key = batch['inputs']['keyframes'].flatten(0, 1).float()
    frames = batch['inputs']['frames'].flatten(0, 1).float()
    assert frames.shape == (4, 2, 3, 16, 16)
    with torch.no_grad():
        assert encoder(keyframes=key, frames=frames).shape == (4, 16, 1, 1)
        full = key[:, None].expand(-1, 2, -1, -1, -1)
        with pytest.raises(ValueError, match='grids do not line up'):
            encoder(keyframes=key, frames=full)


def test_paths_of_the_two_layouts(data, tmp_path):
    ds = build(data)
    root = data.data_prefix['video']
    assert [ds.get_data_info(i)['filename'] for i in range(4)] == [
        f'{root}/yt0/yt0.0.mp4', f'{root}/yt0/yt0.1.mp4',
        f'{root}/yt1/yt1.0.mp4', f'{root}/yt1/yt1.1.mp4'
    ]
    flat = make_pretrain_data(tmp_path, layout='flat', num_clips=2)
    ds = build(flat, hd_vila_pretrain_pipeline(**SMALL), layout='flat')
    item = ds[1]
    assert item['data_samples'].filename == (
        f"{flat.data_prefix['video']}/video1.mp4")
    assert item['data_samples'].clip_id == 'video1'
    assert item['data_samples'].qid == 1


def test_caption_rows_are_the_official_encoding(data):
    ds = build(data, max_txt_len=8)
    for i in range(4):
        info = ds.get_data_info(i)
        assert info['text_ids'].tolist() == official_ids(data, CAPTIONS[i], 8)
        assert info['text_mask'].tolist() == [
            int(t != 0) for t in info['text_ids'].tolist()
        ]
        assert info['itm_label'] == 1
    # 'a cat sits, then a zebra runs' is 10 word pieces: cut to 6 + 2
    assert ds.get_data_info(3)['text_mask'].tolist() == [1] * 8


def test_without_itm_no_random_draw_is_made(data):
    ds = build(data)
    random.seed(3)
    ds.get_data_info(2)
    after = random.random()
    random.seed(3)
    assert random.random() == after


def test_itm_negatives_follow_the_official_draw(data):
    ds = build(data, use_itm=True, itm_neg_prob=0.5)
    for seed in range(6):
        random.seed(seed)
        expected = []
        for idx in range(4):
            if random.random() < 0.5:
                other = int(random.random() * 4)
                while other == idx:
                    other = int(random.random() * 4)
                expected.append((0, other))
            else:
                expected.append((1, idx))
        random.seed(seed)
        for idx, (label, source) in enumerate(expected):
            info = ds.get_data_info(idx)
            assert info['itm_label'] == label
            assert info['text_ids'].tolist() == official_ids(
                data, CAPTIONS[source], 12)
    always = build(data, use_itm=True, itm_neg_prob=1.0)
    for _ in range(20):
        info = always.get_data_info(1)
        assert info['itm_label'] == 0 and info['caption'] != CAPTIONS[1]


def _batch(data, **kw):
    pipeline = hd_vila_pretrain_pipeline(
        num_frm=3, sample_rate=4, frame_size=(18, 28), crop_size=(16, 24))
    ds = build(data, pipeline, max_txt_len=16, **kw)
    random.seed(0)
    return hd_vila_collate([ds[i] for i in range(4)])


def _model(type_, tiny, **kw):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type=type_,
            video_encoder=helpers.stand_in(tiny['hidden_size']),
            bert_config=dict(tiny, attn_implementation='eager'),
            **kw))


def test_batch_trains_stage1(data, tiny_bert_config):
    batch = _batch(data)
    assert batch['inputs']['keyframes'].shape == (4, 2, 3, 16, 24)
    assert batch['inputs']['frames'].shape == (4, 2, 2, 3, 4, 6)
    # the collate cut the 16-token rows to the longest caption: 'a cat
    # sits, then a zebra runs' = [CLS] + 10 word pieces + [SEP]
    assert [s.text_ids.shape for s in batch['data_samples']] == [(12, )] * 4
    model = _model('HDVILAPretrainStage1', tiny_bert_config).train()
    loss = model(**model.data_preprocessor(batch, True), mode='loss')
    assert set(loss) == {'loss_contrastive'}
    assert torch.isfinite(loss['loss_contrastive'])
    assert loss['loss_contrastive'] > 0


def test_batch_trains_stage2_with_mlm_and_itm(data, tiny_bert_config):
    batch = _batch(data, use_itm=True)
    labels = [s.itm_label for s in batch['data_samples']]
    assert set(labels) <= {0, 1}
    model = _model(
        'HDVILAPretrainStage2',
        tiny_bert_config,
        use_itm=True,
        mlm_probability=0.5,
        mask_token_id=TINY_MASK,
        special_token_ids=TINY_SPECIAL_IDS).train()
    model.generator = torch.Generator().manual_seed(0)
    loss = model(**model.data_preprocessor(batch, True), mode='loss')
    assert {'loss_mlm', 'mlm_acc', 'loss_itm', 'itm_acc'} <= set(loss)
    for key in ('loss_mlm', 'loss_itm'):
        assert torch.isfinite(loss[key]) and loss[key] > 0
    (loss['loss_mlm'] + loss['loss_itm']).backward()


def test_clips_of_other_sizes_in_one_video_root(tmp_path):
    """Frames of every clip come out at one size, whatever the video's, so
    a batch of mixed sources stacks."""
    data = make_pretrain_data(tmp_path, num_clips=2)
    write_video(data.data_prefix['video'] + '/yt0/yt0.1.mp4', 40, (24, 40))
    ds = build(data, hd_vila_pretrain_pipeline(**SMALL))
    batch = hd_vila_collate([ds[0], ds[1]])
    assert batch['inputs']['keyframes'].shape == (2, 2, 3, 64, 96)
    assert batch['inputs']['frames'].shape == (2, 2, 6, 3, 16, 24)
