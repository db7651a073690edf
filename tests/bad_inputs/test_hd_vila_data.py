"""Bad HD-VILA data: annotation files with a bad line or record, empty
text, a bad or missing answer vocabulary or BERT vocabulary, and videos or
frames that are missing, unreadable or too short. Each is refused with an
error naming the file (and the annotation line) and what is wrong; the
official loaders crash with bare errors or silently use a random other
video."""
import json
import os

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import vtg_hd_vila  # noqa: F401
from vtg_hd_vila.datasets import hd_vila_pipeline
from vtg_hd_vila.datasets.collate import hd_vila_collate
from vtg_hd_vila.testing import (make_mc_data, make_qa_data,
                                 make_retrieval_data, write_jsonl, write_video)
from vtg_plugins.features.frames import ShortVideoError, VideoDecodeError
from vtg_plugins.registry import DATASETS

SMALL = dict(resize_size=(18, 28), crop_size=(16, 24))


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def assert_refused(build, *expected, error=ValueError):
    """``build()`` raises ``error`` whose message holds every
    ``expected`` text."""
    with pytest.raises(error) as err:
        build()
    msg = str(err.value)
    for text in expected:
        assert str(text) in msg, f'{text!r} not in {msg!r}'
    return msg


def retrieval(data, **kw):
    cfg = dict(
        type='HDVILAVideoRetrievalDataset',
        ann_file=data.ann_file,
        vocab_file=data.vocab_file,
        max_txt_len=12,
        data_prefix=data.data_prefix,
        pipeline=hd_vila_pipeline('video', False, 2, **SMALL))
    cfg.update(kw)
    return DATASETS.build(cfg)


@pytest.fixture
def data(tmp_path):
    return make_retrieval_data(tmp_path, num_videos=2)


# --- annotation files --------------------------------------------------------


def test_bad_jsonl_line_names_file_and_line(data):
    with open(data.ann_file, 'a') as f:
        f.write('\n{"clip_id": "video9", "text": \n')
    assert_refused(lambda: retrieval(data), data.ann_file, 'line 4',
                   'invalid JSON')


@pytest.mark.parametrize('record, expected', [
    (dict(text='a dog'), "missing field 'clip_id'"),
    (dict(clip_id='video0'), "missing field 'text'"),
    (dict(clip_id=7, text='a dog'), "field 'clip_id' must be str"),
    (dict(clip_id='video0', text=''), "text: empty text ''"),
    (dict(clip_id='video0', text='   '), 'empty text'),
    (dict(clip_id='video0', text=[]), 'empty list'),
    (dict(clip_id='video0', text=['a dog', '']), 'text 1: empty text'),
    (dict(clip_id='video0', text=3), "field 'text' must be str/list"),
])
def test_bad_retrieval_record(data, record, expected):
    write_jsonl(data.ann_file, [data.records[0], record])
    assert_refused(lambda: retrieval(data), data.ann_file, 'line 2', expected)


def test_record_that_is_not_an_object(data):
    with open(data.ann_file, 'a') as f:
        f.write('["video0", "a dog"]\n')
    assert_refused(lambda: retrieval(data), 'line 3', 'expected a JSON object')


def test_missing_and_empty_annotation_files(data, tmp_path):
    assert_refused(
        lambda: retrieval(data, ann_file=str(tmp_path / 'no.jsonl')),
        'no.jsonl',
        'does not exist',
        error=FileNotFoundError)
    (tmp_path / 'empty.jsonl').write_text('\n')
    assert_refused(
        lambda: retrieval(data, ann_file=str(tmp_path / 'empty.jsonl')),
        'empty.jsonl', 'holds no record')
    (tmp_path / 'a.csv').write_text('x')
    assert_refused(lambda: retrieval(data, ann_file=str(tmp_path / 'a.csv')),
                   'a.csv', "unsupported type '.csv'")


@pytest.mark.parametrize('num_frame, expected', [
    (None, "missing field 'num_frame'"),
    ('12', "field 'num_frame' must be int"),
    (0, 'num_frame must be positive'),
])
def test_bad_frame_record(tmp_path, num_frame, expected):
    frames = make_retrieval_data(tmp_path, vis_format='frame', num_videos=1)
    rec = dict(frames.records[0])
    rec.pop('num_frame')
    if num_frame is not None:
        rec['num_frame'] = num_frame
    write_jsonl(frames.ann_file, [rec])
    assert_refused(lambda: retrieval(frames, vis_format='frame', pipeline=[]),
                   frames.ann_file, 'line 1', expected)


def test_frame_prefix_without_the_official_folder_name(tmp_path):
    frames = make_retrieval_data(tmp_path, vis_format='frame', num_videos=1)
    frames.data_prefix = dict(frames=str(tmp_path / 'hr'))
    assert_refused(lambda: retrieval(frames, vis_format='frame'),
                   "no 'video_frames'", "data_prefix['lr_frames']")


def test_missing_bert_vocabulary(data, tmp_path):
    assert_refused(
        lambda: retrieval(data, vocab_file=str(tmp_path / 'v.txt')),
        'v.txt',
        'does not exist',
        error=FileNotFoundError)
    (tmp_path / 'bad.txt').write_text('[PAD]\na\n')
    assert_refused(
        lambda: retrieval(data, vocab_file=str(tmp_path / 'bad.txt')),
        'bad.txt', 'has no [CLS] entry')


# --- QA and multiple choice --------------------------------------------------


def qa(data, **kw):
    cfg = dict(
        type='HDVILAVideoQADataset',
        ann_file=data.ann_file,
        ans2label_file=data.ans2label_file,
        vocab_file=data.vocab_file,
        max_txt_len=30,
        task='frameqa',
        data_prefix=data.data_prefix)
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_answer_vocabulary_file_is_missing(tmp_path):
    data = make_qa_data(tmp_path)
    assert_refused(
        lambda: qa(data, ans2label_file=str(tmp_path / 'ans.json')),
        'answer vocabulary',
        'ans.json',
        'does not exist',
        error=FileNotFoundError)


@pytest.mark.parametrize('vocab, expected', [
    ({}, 'is empty'),
    (['guitar'], 'expected a JSON object, got list'),
    ({
        'guitar': '0'
    }, "the label of 'guitar' is '0', not an integer"),
    ({
        'guitar': 0,
        'red': 2
    }, 'the label 2 of \'red\' is outside [0, 2)'),
    ({
        'guitar': 1,
        'red': 1
    }, "label 1 is given to both 'guitar' and 'red'"),
])
def test_bad_answer_vocabulary(tmp_path, vocab, expected):
    data = make_qa_data(tmp_path)
    with open(data.ans2label_file, 'w') as f:
        json.dump(vocab, f)
    assert_refused(lambda: qa(data), data.ans2label_file, expected)


def test_bad_qa_records(tmp_path):
    data = make_qa_data(tmp_path)
    rec = dict(data.records[0], answer_type='animal')
    write_jsonl(data.ann_file, [rec])
    assert_refused(lambda: qa(data), 'line 1', "answer_type 'animal'")
    write_jsonl(data.ann_file, [dict(data.records[0], question='')])
    assert_refused(lambda: qa(data), 'line 1', 'question: empty text')
    assert_refused(lambda: qa(data, task='action'), "task must be one of")


def test_training_answer_outside_the_vocabulary(tmp_path):
    data = make_qa_data(tmp_path)  # its 4th question's answer is 'zebra'
    assert_refused(lambda: qa(data), data.ann_file, 'line 4',
                   "training answer 'zebra' is not in the answer vocabulary",
                   "train_oov='ignore'")
    assert qa(data, train_oov='ignore').get_data_info(3)['answer_label'] == -1
    assert qa(data, test_mode=True).get_data_info(3)['answer_label'] == -1
    assert_refused(lambda: qa(data, train_oov='skip'), "train_oov must be")


@pytest.mark.parametrize('change, expected', [
    (dict(options=['jump', 'sit']), '2 options, expected 5'),
    (dict(answer=5), 'answer 5 is outside the 5 options'),
    (dict(answer='two'), "answer 'two' is not an option index"),
    (dict(options=['jump', 'sit', '', 'run', 'eat']), 'option 2: empty'),
])
def test_bad_multiple_choice_records(tmp_path, change, expected):
    data = make_mc_data(tmp_path, 'tgif')
    write_jsonl(data.ann_file,
                [data.records[0], {
                    **data.records[1],
                    **change
                }])
    assert_refused(
        lambda: DATASETS.build(
            dict(
                type='HDVILATGIFMultipleChoiceDataset',
                ann_file=data.ann_file,
                vocab_file=data.vocab_file,
                max_txt_len=30,
                task='action',
                data_prefix=data.data_prefix)), data.ann_file, 'line 2',
        expected)


def test_repeated_msrvtt_mc_qid(tmp_path):
    data = make_mc_data(tmp_path, 'msrvtt')
    write_jsonl(data.ann_file, [data.records[0], data.records[0]])
    assert_refused(
        lambda: DATASETS.build(
            dict(
                type='HDVILAMSRVTTMCDataset',
                ann_file=data.ann_file,
                vocab_file=data.vocab_file,
                max_txt_len=30,
                data_prefix=data.data_prefix)), 'line 2', "qid 'mc0'",
        'repeats line 1')


# --- videos and frames ------------------------------------------------------


def test_missing_video_names_it_and_the_line(data):
    video = data.data_prefix['video'] + '/video1.mp4'
    os.remove(video)
    ds = retrieval(data)
    assert_refused(
        lambda: ds[1],
        video,
        f'{data.ann_file} line 2',
        'does not exist',
        error=FileNotFoundError)


def test_unreadable_video(data):
    video = data.data_prefix['video'] + '/video0.mp4'
    with open(video, 'wb') as f:
        f.write(b'not a video' * 50)
    ds = retrieval(data)
    assert_refused(
        lambda: ds[0],
        video,
        'line 1',
        'decord',
        'pyav',
        error=VideoDecodeError)


def test_video_shorter_than_the_clips(data):
    video = data.data_prefix['video'] + '/video0.mp4'
    write_video(video, 3)
    ds = retrieval(data, pipeline=hd_vila_pipeline('video', False, 4, **SMALL))
    assert_refused(
        lambda: ds[0],
        video,
        'line 1', '3 frames, fewer than the '
        'n_clips=4',
        error=ShortVideoError)


def test_missing_frame_file(tmp_path):
    frames = make_retrieval_data(
        tmp_path, vis_format='frame', num_videos=1, num_frames=20)
    rec = dict(frames.records[0], num_frame=40)  # more than were written
    write_jsonl(frames.ann_file, [rec])
    ds = retrieval(
        frames,
        vis_format='frame',
        pipeline=hd_vila_pipeline(
            'frame', False, 2, num_frm=5, sample_rate=2, crop_size=(16, 24)))
    assert_refused(
        lambda: ds[0],
        'line 1',
        'clip0_',
        'does not exist',
        error=FileNotFoundError)


def test_high_res_keyframe_needs_native_frames(data):
    pipe = hd_vila_pipeline('video', False, 2, keyframe='high_res', **SMALL)
    pipe[2]['high_res_keyframes'] = False
    ds = retrieval(data, pipeline=pipe)
    assert_refused(
        lambda: ds[0], 'high_res_keyframes=True', 'video0.mp4', error=KeyError)


def test_collate_refuses_mixed_shapes_and_unpacked_items(data):
    a = retrieval(data)[0]
    b = retrieval(
        data, pipeline=hd_vila_pipeline('video', False, 3, **SMALL))[1]
    assert_refused(lambda: hd_vila_collate([a, b]), 'different shapes',
                   '(2, 3, 64, 96)', '(3, 3, 64, 96)')
    assert_refused(
        lambda: hd_vila_collate([a, np.zeros(3)]),
        'item 1',
        'PackHDVILAInputs',
        error=TypeError)
