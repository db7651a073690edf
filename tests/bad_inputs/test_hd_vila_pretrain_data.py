"""Bad HD-VILA pre-training data: annotation records that are malformed,
lack a field or hold empty text, options that cannot work (a crop larger
than the frames, a 'high_res' crop the 1/4 frames cannot divide, ITM with
no other record), and clips that are missing, unreadable, too short or of
one frame. Each is refused naming the file (and the annotation line) and
what is wrong; the official loader raises bare errors, or logs the clip and
silently substitutes a random other one."""
import os

import pytest
from mmengine.registry import init_default_scope

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pretrain_pipeline
from vtg_hd_vila.datasets.pretrain_geometry import HDVILAPretrainResizeCrop
from vtg_hd_vila.testing import write_jsonl, write_video
from vtg_hd_vila.testing_pretrain import make_pretrain_data
from vtg_plugins.features.frames import ShortVideoError, VideoDecodeError
from vtg_plugins.registry import DATASETS

SMALL = dict(frame_size=(36, 56), crop_size=(32, 48))


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture
def data(tmp_path):
    return make_pretrain_data(tmp_path, num_clips=2, num_frames=30)


def assert_refused(build, *expected, error=ValueError):
    """``build()`` raises ``error`` whose message holds every
    ``expected`` text."""
    with pytest.raises(error) as err:
        build()
    msg = str(err.value)
    for text in expected:
        assert str(text) in msg, f'{text!r} not in {msg!r}'
    return msg


def pretrain(data, **kw):
    cfg = dict(
        type='HDVILAPretrainDataset',
        ann_file=data.ann_file,
        vocab_file=data.vocab_file,
        max_txt_len=12,
        data_prefix=data.data_prefix,
        pipeline=hd_vila_pretrain_pipeline(**SMALL))
    cfg.update(kw)
    return DATASETS.build(cfg)


# --- annotation files and options --------------------------------------------


@pytest.mark.parametrize('record, expected', [
    (dict(text='a dog'), "missing field 'clip_id'"),
    (dict(clip_id='yt0.0.mp4'), "missing field 'text'"),
    (dict(clip_id=3, text='a dog'), "field 'clip_id' must be str"),
    (dict(clip_id=' ', text='a dog'), 'empty clip_id'),
    (dict(clip_id='yt0.0.mp4', text=''), "text: empty text ''"),
    (dict(clip_id='yt0.0.mp4', text=['a dog']), "field 'text' must be str"),
])
def test_bad_record_names_file_and_line(data, record, expected):
    write_jsonl(data.ann_file, [data.records[0], record])
    assert_refused(lambda: pretrain(data), data.ann_file, 'line 2', expected)


def test_bad_json_line(data):
    with open(data.ann_file, 'a') as f:
        f.write('{"clip_id": "yt1.0.mp4", "text": \n')
    assert_refused(lambda: pretrain(data), data.ann_file, 'line 3',
                   'invalid JSON')


def test_itm_needs_another_record(data):
    write_jsonl(data.ann_file, data.records[:1])
    assert_refused(lambda: pretrain(data, use_itm=True), data.ann_file,
                   'negative captions from other records', 'holds only 1')


@pytest.mark.parametrize('kw, expected', [
    (dict(layout='by_video'), "layout must be one of ('nested', 'flat')"),
    (dict(itm_neg_prob=1.5), 'itm_neg_prob must be in [0, 1], got 1.5'),
    (dict(max_txt_len=1), 'max_txt_len must leave room'),
])
def test_bad_dataset_option(data, kw, expected):
    assert_refused(lambda: pretrain(data, **kw), expected)


@pytest.mark.parametrize('kw, expected', [
    (dict(crop_size=(40, 48)), 'crop_size (40, 48) does not fit in '
     'frame_size (36, 56)'),
    (dict(crop_size=(30, 48)), 'crop_size (30, 48) must be multiples of 4'),
    (dict(frame_size=(36, )), 'frame_size must be two positive integers'),
    (dict(crop_size=(0, 48)), 'crop_size must be two positive integers'),
    (dict(keyframe='crop'), "keyframe must be one of ('upsample', "
     "'high_res')"),
])
def test_bad_geometry(kw, expected):
    assert_refused(lambda: HDVILAPretrainResizeCrop(**{
        **SMALL,
        **kw
    }), expected)


def test_upsample_keyframes_take_any_crop():
    crop = HDVILAPretrainResizeCrop((36, 56), (30, 45), keyframe='upsample')
    assert crop.crop_size == (30, 45)


# --- clips -------------------------------------------------------------------


def test_missing_clip_names_it_and_the_line(data):
    ds = pretrain(data)
    path = data.data_prefix['video'] + '/yt0/yt0.1.mp4'
    os.remove(path)
    assert_refused(
        lambda: ds[1],
        path,
        f'{data.ann_file} line 2',
        'does not exist',
        error=FileNotFoundError)


def test_flat_layout_on_nested_clips_is_a_missing_file(data):
    ds = pretrain(data, layout='flat')
    assert_refused(
        lambda: ds[0],
        data.data_prefix['video'] + '/yt0.0.mp4.mp4',
        'line 1',
        error=FileNotFoundError)


def test_unreadable_clip(data):
    path = data.data_prefix['video'] + '/yt0/yt0.0.mp4'
    with open(path, 'wb') as f:
        f.write(b'no video here' * 40)
    assert_refused(
        lambda: pretrain(data)[0],
        path,
        'line 1',
        'decord',
        'pyav',
        error=VideoDecodeError)


def test_clip_shorter_than_the_clips_to_sample(data):
    path = data.data_prefix['video'] + '/yt0/yt0.1.mp4'
    write_video(path, 1, (36, 56))
    assert_refused(
        lambda: pretrain(data)[1],
        path,
        'line 2',
        '1 frames, fewer than the n_clips=2',
        error=ShortVideoError)


def test_one_frame_clips_have_no_low_resolution_frames(data):
    ds = pretrain(data, pipeline=hd_vila_pretrain_pipeline(num_frm=1, **SMALL))
    assert_refused(lambda: ds[0], 'yt0.0.mp4', 'line 1', 'clips of 1 frame(s)',
                   'num_frm >= 3')
