"""Bad TempCLR downstream data: YouCook2 pkl/json/features, the MSR-VTT
test CSV, the CrossTask release. Each is refused with an error naming the
file, the record and what is wrong (the official processors crash later
with a bare IndexError / KeyError, or silently drop or wrap the record)."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from vtg_tempclr.datasets import (CrossTaskDataset, MSRVTTRetrievalDataset,
                                  YouCook2RetrievalDataset)
from vtg_tempclr.testing_downstream import (tiny_crosstask, tiny_msrvtt,
                                            tiny_youcook2, write_vocab)


def assert_refused(build, *expected, error=ValueError):
    """``build()`` raises ``error`` whose message holds every text of
    ``expected``."""
    with pytest.raises(error) as err:
        build()
    msg = str(err.value)
    for text in expected:
        assert str(text) in msg, f'{text!r} not in {msg!r}'
    return msg


@pytest.fixture
def vocab(tmp_path):
    return write_vocab(tmp_path / 'vocab.txt')


# --- YouCook2 ---------------------------------------------------------------
@pytest.fixture
def youcook(tmp_path):
    kwargs = tiny_youcook2(tmp_path / 'yc', dim=4)
    with open(kwargs['ann_file'], 'rb') as f:
        records = pickle.load(f)
    with open(kwargs['trainval_annotation']) as f:
        database = json.load(f)
    return kwargs, records, database


def _youcook_build(vocab, kwargs, records=None, database=None, **extra):
    if records is not None:
        with open(kwargs['ann_file'], 'wb') as f:
            pickle.dump(records, f)
    if database is not None:
        with open(kwargs['trainval_annotation'], 'w') as f:
            json.dump(database, f)
    return lambda: YouCook2RetrievalDataset(vocab_file=vocab, **kwargs,
                                            **extra)


@pytest.mark.parametrize('key', ['ann_file', 'trainval_annotation'])
def test_youcook_missing_files(youcook, vocab, tmp_path, key):
    kwargs, _, _ = youcook
    kwargs[key] = str(tmp_path / 'absent.file')
    assert_refused(_youcook_build(vocab, kwargs), 'absent.file',
                   error=FileNotFoundError)


@pytest.mark.parametrize('rec_id', ['nounderscore', 'Gx_4Kp9sQwE_x', 5])
def test_youcook_malformed_record_id(youcook, vocab, rec_id):
    kwargs, records, _ = youcook
    records[2]['id'] = rec_id
    assert_refused(_youcook_build(vocab, kwargs, records), kwargs['ann_file'],
                   'record 2', repr(rec_id))


def test_youcook_repeated_record(youcook, vocab):
    kwargs, records, _ = youcook
    records.append(dict(records[0]))
    assert_refused(_youcook_build(vocab, kwargs, records), 'record 7',
                   records[0]['id'], 'repeated')


def test_youcook_video_absent_from_the_json(youcook, vocab):
    kwargs, _, database = youcook
    del database['database']['bT3kQ0yUa8M']
    assert_refused(_youcook_build(vocab, kwargs, database=database),
                   "'bT3kQ0yUa8M_0'", 'no annotations',
                   kwargs['trainval_annotation'])


def test_youcook_clip_absent_from_the_json(youcook, vocab):
    kwargs, records, _ = youcook
    records[0]['id'] = 'Gx_4Kp9sQwE_7'
    assert_refused(_youcook_build(vocab, kwargs, records), 'clip 7',
                   'past the 3 annotations', "'Gx_4Kp9sQwE'")


@pytest.mark.parametrize('segment', [[5, 3], [-1, 4], [2.5, 8], [1]])
def test_youcook_bad_segment(youcook, vocab, segment):
    kwargs, _, database = youcook
    database['database']['bT3kQ0yUa8M']['annotations'][1]['segment'] = segment
    assert_refused(_youcook_build(vocab, kwargs, database=database),
                   kwargs['trainval_annotation'], "'bT3kQ0yUa8M'",
                   'annotation 1', 'segment')


@pytest.mark.parametrize('segment,expected', [
    ([20, 25], 'starts after the last of the 20 feature rows'),
    ([10, 23], 'ends 3 rows after the last of the 20'),
])
def test_youcook_segment_outside_the_video(youcook, vocab, segment,
                                           expected):
    """The video has 20 feature rows: the official slice is empty, or
    silently short by more than a rounding second."""
    kwargs, _, database = youcook
    database['database']['bT3kQ0yUa8M']['annotations'][0]['segment'] = segment
    ds = _youcook_build(vocab, kwargs, database=database)()
    assert_refused(lambda: ds[3], kwargs['ann_file'], "'bT3kQ0yUa8M_0'",
                   expected)


@pytest.mark.parametrize('text', ['', '   ', None])
def test_youcook_empty_caption(youcook, vocab, text):
    kwargs, _, database = youcook
    database['database']['Zq9Lm2Wx0cA']['annotations'][1]['sentence'] = text
    assert_refused(_youcook_build(vocab, kwargs, database=database),
                   kwargs['trainval_annotation'], "'Zq9Lm2Wx0cA'",
                   'annotation 1', 'sentence')


def test_youcook_missing_features_strict_and_all(youcook, vocab):
    kwargs, _, _ = youcook
    feat_dir = kwargs['vfeat_dir']
    (Path(feat_dir) / 'Zq9Lm2Wx0cA.npy').unlink()
    assert len(_youcook_build(vocab, kwargs)()) == 5  # dropped, as official
    assert_refused(_youcook_build(vocab, kwargs, strict=True),
                   'Zq9Lm2Wx0cA_0', 'Zq9Lm2Wx0cA.npy', 'strict=True',
                   error=FileNotFoundError)
    for path in Path(feat_dir).glob('*.npy'):
        path.unlink()
    assert_refused(_youcook_build(vocab, kwargs), 'none of its 7 records',
                   feat_dir)


# --- MSR-VTT ----------------------------------------------------------------
@pytest.fixture
def msrvtt(tmp_path):
    return tiny_msrvtt(tmp_path / 'vtt', dim=4)


def _msrvtt(vocab, kwargs, csv_text=None):
    if csv_text is not None:
        with open(kwargs['ann_file'], 'w') as f:
            f.write(csv_text)
    return lambda: MSRVTTRetrievalDataset(vocab_file=vocab, **kwargs)


def test_msrvtt_missing_csv(msrvtt, vocab, tmp_path):
    msrvtt['ann_file'] = str(tmp_path / 'MSRVTT_absent.csv')
    assert_refused(_msrvtt(vocab, msrvtt), 'MSRVTT_absent.csv',
                   error=FileNotFoundError)


def test_msrvtt_header_without_sentence(msrvtt, vocab):
    assert_refused(_msrvtt(vocab, msrvtt, 'key,video_id,caption\n'
                           'ret0,video7010,a man\n'), msrvtt['ann_file'],
                   "['sentence']")


@pytest.mark.parametrize('sentence', ['', '" "'])
def test_msrvtt_empty_sentence(msrvtt, vocab, sentence):
    text = ('key,vid_key,video_id,sentence\nret0,msr7010,video7010,stir\n'
            f'ret1,msr7011,video7011,{sentence}\n')
    assert_refused(_msrvtt(vocab, msrvtt, text), msrvtt['ann_file'],
                   'line 3', "'video7011'", 'empty')


def test_msrvtt_missing_feature_file(msrvtt, vocab):
    text = 'key,vid_key,video_id,sentence\nret0,msr9,video9999,stir\n'
    assert_refused(_msrvtt(vocab, msrvtt, text), 'line 2', "'video9999'",
                   'video9999.npy', error=FileNotFoundError)


# --- CrossTask --------------------------------------------------------------
@pytest.fixture
def release(tmp_path):
    kwargs = tiny_crosstask(tmp_path / 'ct', dim=4)
    kwargs['n_train'] = 100  # every video trains: item 0 is jk00
    return tmp_path / 'ct', kwargs


def _crosstask(vocab, kwargs, **extra):
    return lambda: CrossTaskDataset(vocab, split='train', **kwargs, **extra)


@pytest.mark.parametrize('steps_line,expected', [
    ('3\nremove wheel,jack car', 'declares 3 steps but lists 2'),
    ('three\nremove wheel,jack car,put tire', "'three' is not an integer"),
    ('3\nremove wheel,,put tire', 'step(s) [2] have empty text'),
])
def test_crosstask_malformed_task_info(release, vocab, steps_line, expected):
    root, kwargs = release
    path = root / 'tasks_primary.txt'
    text = path.read_text()
    path.write_text(text.replace('3\nremove wheel,jack car,put tire',
                                 steps_line))
    assert_refused(_crosstask(vocab, kwargs), path, "'16815'", expected)


def test_crosstask_task_block_without_blank_line(release, vocab):
    root, kwargs = release
    path = root / 'tasks_primary.txt'
    path.write_text(path.read_text().replace('put tire\n\n', 'put tire\n', 1))
    assert_refused(_crosstask(vocab, kwargs), path, 'line 6',
                   "closing task '16815'")


@pytest.mark.parametrize('step', [0, 4])
def test_crosstask_annotation_step_outside_the_task(release, vocab, step):
    root, kwargs = release
    path = root / 'annotations' / '16815_jk01.csv'
    path.write_text(f'1,0.0,2.0\n{step},3.0,4.0\n')
    assert_refused(_crosstask(vocab, kwargs), path, 'line 2',
                   f'step {step} is outside 1..3')


@pytest.mark.parametrize('line', ['1,2.0', '1,a,2.0', '1,5.0,3.0',
                                  '1,nan,3.0'])
def test_crosstask_malformed_annotation_line(release, vocab, line):
    root, kwargs = release
    path = root / 'annotations' / '16815_jk02.csv'
    path.write_text(f'2,0.0,1.0\n{line}\n')
    assert_refused(_crosstask(vocab, kwargs), path, 'line 2')


@pytest.mark.parametrize('span', ['{T}.5,{T2}', '0.0,{T5}'])
def test_crosstask_annotation_past_the_video_end(release, vocab, span):
    root, kwargs = release
    num_frames = len(np.load(root / 'features' / 'jk00.npy'))
    path = root / 'annotations' / '16815_jk00.csv'
    path.write_text('1,' + span.format(T=num_frames, T2=num_frames + 2,
                                       T5=num_frames + 5) + '\n')
    ds = _crosstask(vocab, kwargs)()
    assert_refused(lambda: ds[0], "'16815'", "'jk00'", path,
                   f'past the end of the video\'s {num_frames} feature rows')


def test_crosstask_video_of_an_unknown_task(release, vocab):
    root, kwargs = release
    path = root / 'videos.csv'
    path.write_text(path.read_text() + '99999,zz00,u\n')
    msg = assert_refused(_crosstask(vocab, kwargs), path, 'line 11',
                         "'zz00'", "task '99999'", 'tasks_primary.txt')
    assert "missing='skip'" in msg
    assert len(_crosstask(vocab, kwargs, missing='skip')()) == 9


@pytest.mark.parametrize('absent', ['annotations/23521_br01.csv',
                                    'features/br01.npy'])
def test_crosstask_video_without_annotation_or_features(
        release, vocab, absent):
    root, kwargs = release
    (root / absent).unlink()
    assert_refused(_crosstask(vocab, kwargs), root / 'videos.csv', 'line 6',
                   "'br01'", "task '23521'", root / absent)
    skipped = _crosstask(vocab, kwargs, missing='skip')()
    assert len(skipped) == 8
    assert 'br01' not in {skipped.get_data_info(i)['vid'] for i in range(8)}


@pytest.mark.parametrize('name', ['tasks_primary.txt', 'tasks_related.txt',
                                  'videos.csv', 'videos_val.csv'])
def test_crosstask_missing_release_file(release, vocab, name):
    root, kwargs = release
    (root / name).unlink()
    assert_refused(_crosstask(vocab, kwargs), root / name,
                   error=FileNotFoundError)


def test_crosstask_malformed_video_list_line(release, vocab):
    root, kwargs = release
    path = root / 'videos.csv'
    path.write_text('16815,jk00\n' + path.read_text())
    assert_refused(_crosstask(vocab, kwargs), path, 'line 1',
                   'task,video,url')


@pytest.mark.parametrize('extra,expected', [
    (dict(missing='drop'), 'missing must be one of'),
    (dict(sliding_window_size=48), 'sliding_window_size <= max_video_len'),
])
def test_crosstask_bad_options(release, vocab, extra, expected):
    _, kwargs = release
    assert_refused(_crosstask(vocab, kwargs, **extra), expected)
