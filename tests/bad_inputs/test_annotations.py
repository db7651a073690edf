"""Bad annotation files: every loader of ``ANNOTATION_LOADERS`` and every
dataset built on one refuses them with a ``ValueError`` naming the file,
the record (line or position, and qid) and what is wrong
(docs/data_contracts.md).

Line-based formats (normalized, QVHighlights, GroundNLQ's Ego4D jsonl) are
checked with the same bad records; the nested official Ego4D json and the
R²-Tuning highlight files with theirs."""
import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope

import vtg_groundnlq  # noqa: F401
import vtg_r2_tuning  # noqa: F401
from vtg_groundnlq.datasets import Ego4DNLQDataset
from vtg_plugins.datasets import GroundingDataset, load_grounding_annotations
from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_plugins.testing import make_ego4d_nlq
from vtg_r2_tuning.datasets import YouTubeHighlightsDataset, load_splits

NAN = float('nan')


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


# --- one record of each line-based format ----------------------------------
def _normalized(qid, query='a dog runs', duration=10.0, windows=((2, 4), )):
    return dict(qid=qid, vid='v0', query=query, duration=duration,
                windows=[list(w) for w in windows], clip_len=2.0)


def _qvhighlights(qid, query='a dog runs', duration=10, windows=((2, 4), )):
    return dict(qid=qid, vid='v0', query=query, duration=duration,
                relevant_windows=[list(w) for w in windows],
                relevant_clip_ids=[1], saliency_scores=[[1, 2, 3]])


def _ego4d_jsonl(qid, query='where is the cup?', duration=10.0,
                 windows=((2, 4), )):
    return dict(query_id=qid, video_id='v0', query=query, duration=duration,
                query_type='nlq', timestamps=[list(w) for w in windows])


# format -> (record maker, qid field, video-id field, window field)
FORMATS = {
    'normalized': (_normalized, 'qid', 'vid', 'windows'),
    'qvhighlights': (_qvhighlights, 'qid', 'vid', 'relevant_windows'),
    'ego4d_nlq_jsonl': (_ego4d_jsonl, 'query_id', 'video_id', 'timestamps'),
}


def _write(path, records):
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path


def assert_refused(path, fmt, *expected, **kwargs):
    """Load ``path``; the error must name the file and every ``expected``
    text; returns the message."""
    with pytest.raises(ValueError) as err:
        load_grounding_annotations(path, fmt=fmt, **kwargs)
    msg = str(err.value)
    assert str(path) in msg, msg
    for text in expected:
        assert text in msg, f'{text!r} not in {msg!r}'
    return msg


def _second_record_bad(tmp_path, fmt, edit, **record_kw):
    """A file whose line 2 (qid 'bad') is the good record edited."""
    make = FORMATS[fmt][0]
    bad = make('bad', **record_kw)
    edit(bad)
    return _write(tmp_path / f'{fmt}.jsonl', [make('good'), bad])


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('query', ['', '   ', '\t\n'])
def test_empty_or_blank_query(tmp_path, fmt, query):
    path = _second_record_bad(tmp_path, fmt, lambda r: None, query=query)
    assert_refused(path, fmt, "line 2: qid 'bad'",
             "field 'query' must not be empty or blank")


@pytest.mark.parametrize('fmt', FORMATS)
def test_missing_field(tmp_path, fmt):
    vid_field = FORMATS[fmt][2]
    path = _second_record_bad(tmp_path, fmt, lambda r: r.pop(vid_field))
    assert_refused(path, fmt, "line 2: qid 'bad'", 'missing field',
             repr(vid_field))


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('duration,what', [
    ('10', "'duration' must be a number, got str '10'"),
    (True, "'duration' must be a number, got bool"),
    (None, "'duration' must be a number, got NoneType"),
    (NAN, "'duration' must be finite"),
    (-10.0, "'duration' must be > 0"),
])
def test_wrong_type_nan_or_negative_duration(tmp_path, fmt, duration, what):
    path = _second_record_bad(tmp_path, fmt, lambda r: None,
                              duration=duration)
    assert_refused(path, fmt, "line 2: qid 'bad'", what, window_policy='keep')


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('windows,what', [
    (((NAN, 4.0), ), "'windows[0]' must be finite"),
    ((('2', 4), ), "'windows[0]' must be a number, got str"),
    (((2, 4, 6), ), "'windows[0]' must be a [start, end] pair"),
    (((5.0, 3.0), ), "'windows[0]': start 5.0 > end 3.0"),
    (((1, 2), (-3.0, -1.0)), "'windows[1]': [-3.0, -1.0] lies entirely "
     'outside [0, duration=10.0]'),
])
def test_nan_wrong_type_inverted_or_negative_window(tmp_path, fmt, windows,
                                                     what):
    path = _second_record_bad(tmp_path, fmt, lambda r: None,
                              windows=windows)
    for policy in ('keep', 'clip', 'error'):
        assert_refused(path, fmt, "line 2: qid 'bad'", what, window_policy=policy)


@pytest.mark.parametrize('fmt', FORMATS)
def test_window_entirely_past_the_video_end(tmp_path, fmt):
    """Under 'keep' (the datasets' default) it used to become a training
    target clamped to the video end; no policy accepts it now."""
    path = _second_record_bad(tmp_path, fmt, lambda r: None,
                              windows=((12.0, 15.0), ))
    for policy in ('keep', 'clip', 'error'):
        assert_refused(path, fmt, "line 2: qid 'bad'",
                 "'windows[0]': [12.0, 15.0] lies entirely outside "
                 '[0, duration=10.0]', window_policy=policy)
    # a window that only overhangs the end keeps each policy's behaviour
    path = _second_record_bad(tmp_path, fmt, lambda r: None,
                              windows=((8.0, 11.0), ))
    windows = {policy: load_grounding_annotations(
        path, fmt=fmt, window_policy=policy)[1].windows
        for policy in ('keep', 'clip')}
    assert windows == {'keep': [[8.0, 11.0]], 'clip': [[8.0, 10.0]]}
    assert_refused(path, fmt, "line 2: qid 'bad'", 'lies outside',
             window_policy='error')


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('qid', [None, ['x'], {'a': 1}, 1.5])
def test_wrong_type_qid(tmp_path, fmt, qid):
    qid_field = FORMATS[fmt][1]
    path = _second_record_bad(tmp_path, fmt,
                              lambda r: r.update({qid_field: qid}))
    assert_refused(path, fmt, 'line 2: qid', "field 'qid' must be")


@pytest.mark.parametrize('fmt', FORMATS)
def test_duplicate_qid(tmp_path, fmt):
    make = FORMATS[fmt][0]
    path = _write(tmp_path / 'a.jsonl', [make('q1'), make('q2'), make('q1')])
    assert_refused(path, fmt, "line 3: qid 'q1'",
             'duplicate qid, first seen at line 1')


@pytest.mark.parametrize('fmt', FORMATS)
def test_repeated_key_in_a_record(tmp_path, fmt):
    """JSON would keep the last of two values silently."""
    make = FORMATS[fmt][0]
    line = json.dumps(make('q1'))[:-1] + ', "duration": 99}'
    path = tmp_path / 'a.jsonl'
    path.write_text(json.dumps(make('q0')) + '\n' + line + '\n')
    assert_refused(path, fmt, 'line 2', "key 'duration' appears twice")


@pytest.mark.parametrize('fmt', FORMATS)
def test_record_that_is_not_an_object(tmp_path, fmt):
    path = tmp_path / 'a.jsonl'
    path.write_text(json.dumps(FORMATS[fmt][0]('q0')) + '\n[1, 2]\n')
    assert_refused(path, fmt, 'line 2', 'record must be a JSON object, got list')


@pytest.mark.parametrize('fmt', FORMATS)
def test_non_utf8_annotation_file(tmp_path, fmt):
    make = FORMATS[fmt][0]
    good = json.dumps(make('q0')).encode()
    bad = json.dumps(make('q1', query='caf\u00e9')).encode('utf-8')
    path = tmp_path / 'latin1.jsonl'
    path.write_bytes(good + b'\n' + bad.replace(b'\\u00e9', b'\xe9') + b'\n')
    assert_refused(path, fmt, 'line 2: not UTF-8 text', 'byte 0xe9')


def test_non_utf8_json_list_and_invalid_json_name_the_line(tmp_path):
    path = tmp_path / 'a.json'
    path.write_bytes(b'[\n' + json.dumps(_normalized('q0')).encode() +
                     b',\n{"qid": "q\xff"}\n]')
    assert_refused(path, 'normalized', 'line 3: not UTF-8 text', 'byte 0xff')
    path.write_text('[\n' + json.dumps(_normalized('q0')) + ',\n{"qid": \n]')
    assert_refused(path, 'normalized', 'line 4: invalid JSON')


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('content', ['', '\n\n  \n'])
def test_empty_annotation_file(tmp_path, fmt, content):
    path = tmp_path / 'empty.jsonl'
    path.write_text(content)
    assert_refused(path, fmt, 'holds no record')


def test_empty_json_list(tmp_path):
    path = tmp_path / 'empty.json'
    path.write_text('[]')
    assert_refused(path, 'normalized', 'holds no record')


# --- ground truth: annotated splits vs the official unannotated test split -
def test_qvhighlights_record_without_relevant_windows(tmp_path):
    """In a split with ground truth: an error naming the record."""
    records = [_qvhighlights('q0'), _qvhighlights('q1'),
               dict(qid='q2', vid='v0', query='a dog', duration=10)]
    path = _write(tmp_path / 'qvhighlights_train.jsonl', records)
    assert_refused(path, 'qvhighlights', "line 3: qid 'q2'",
             "lacks field 'relevant_windows' (ground truth)",
             "first: qid 'q0'")
    # the other order: the record without windows comes first
    path = _write(tmp_path / 'b.jsonl', records[::-1])
    assert_refused(path, 'qvhighlights', "line 2: qid 'q1'",
             "has field 'relevant_windows'", "first: qid 'q2'")
    # saliency without windows is a broken record wherever it is
    rec = _qvhighlights('q3')
    del rec['relevant_windows']
    path = _write(tmp_path / 'c.jsonl', [rec])
    assert_refused(path, 'qvhighlights', "line 1: qid 'q3'",
             "missing field 'relevant_windows'", 'saliency_scores')


def test_ego4d_jsonl_record_without_timestamps(tmp_path):
    rec = _ego4d_jsonl('q1')
    del rec['timestamps']
    path = _write(tmp_path / 'nlq_val.jsonl', [_ego4d_jsonl('q0'), rec])
    assert_refused(path, 'ego4d_nlq_jsonl', "line 2: qid 'q1'",
             "lacks field 'timestamps' (ground truth)")


def test_unannotated_test_split_loads_but_cannot_train(tmp_path):
    """The official test files have no ground-truth field in any record:
    they load (for prediction) and are refused as a training split."""
    path = _write(tmp_path / 'qvhighlights_test.jsonl', [
        dict(qid=i, vid='v1', query='a dog', duration=12) for i in range(2)
    ])
    recs = load_grounding_annotations(path, fmt='qvhighlights')
    assert [r.windows for r in recs] == [[], []]
    vid = _video_store(tmp_path)
    predicted = GroundingDataset(str(path), vid, ann_format='qvhighlights',
                                 test_mode=True)
    assert len(predicted) == 2
    with pytest.raises(ValueError) as err:
        GroundingDataset(str(path), vid, ann_format='qvhighlights')
    msg = str(err.value)
    assert str(path) in msg and "qid '0'" in msg
    assert 'no ground truth' in msg and 'training split' in msg


# --- datasets: empty before or after filtering -----------------------------
def _video_store(tmp_path):
    root = tmp_path / 'vid'
    if not root.exists():
        with DirectoryWriter(root) as w:
            w.add('v1', np.zeros((6, 4), np.float16))
    return dict(type='DirectoryStore', root=str(root))


def test_empty_annotation_file_is_refused_when_the_dataset_is_built(
        tmp_path):
    """It used to reach MMEngine's sampler (ZeroDivisionError)."""
    path = tmp_path / 'train.jsonl'
    path.write_text('')
    with pytest.raises(ValueError) as err:
        GroundingDataset(str(path), _video_store(tmp_path))
    assert str(path) in str(err.value) and 'no record' in str(err.value)


def test_every_query_dropped_by_min_duration(tmp_path):
    path = _write(tmp_path / 'train.jsonl', [
        dict(_normalized(f'q{i}', duration=4.0, windows=((1, 2), )), vid='v1')
        for i in range(3)
    ])
    with pytest.raises(ValueError) as err:
        GroundingDataset(str(path), _video_store(tmp_path), min_duration=5)
    msg = str(err.value)
    assert str(path) in msg and 'no query left of the 3' in msg
    assert 'min_duration=5 dropped 3 (videos shorter)' in msg


def test_every_query_dropped_by_on_missing_drop(tmp_path):
    data = make_ego4d_nlq(tmp_path / 'nlq', splits=dict(train=2), vid_dim=8,
                          txt_dim=4, num_feats=(20, 24), seed=1)
    doc = json.loads(data.extra['nlq_train'].read_text())
    for video in doc['videos']:
        for clip in video['clips']:
            clip['clip_uid'] = 'no-features-' + clip['clip_uid']
    ann = tmp_path / 'nlq_train.json'
    ann.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as err:
        Ego4DNLQDataset(
            ann_file=str(ann),
            video_store=dict(type='LMDBStore', root=str(data.video_root)),
            query_store=dict(type='LMDBStore', root=str(data.query_root)),
            on_missing='drop')
    msg = str(err.value)
    assert str(ann) in msg and "on_missing='drop' dropped all 4 queries" in msg
    assert 'lacks 2 key(s)' in msg and 'no-features-' in msg


# --- the nested official Ego4D NLQ json ------------------------------------
def _nlq(queries, annotation_uids=('a1', )):
    """One clip of 10 s, one annotation per uid holding ``queries``."""
    return dict(videos=[dict(video_uid='V', clips=[dict(
        clip_uid='c1', video_start_sec=5.0, video_end_sec=15.0,
        annotations=[dict(annotation_uid=uid, language_queries=queries)
                     for uid in annotation_uids])])])


def _query(**kw):
    return dict(dict(query='where is the cup?', clip_start_sec=1.0,
                     clip_end_sec=3.0), **kw)


@pytest.mark.parametrize('edit,what', [
    (dict(query='   '), "field 'query' must not be empty or blank"),
    (dict(clip_end_sec=NAN), "'windows[0]' must be finite"),
    (dict(clip_end_sec='3'), "'windows[0]' must be a number, got str"),
    (dict(clip_start_sec=4.0), "'windows[0]': start 4.0 > end 3.0"),
    (dict(clip_start_sec=11.0, clip_end_sec=12.0),
     "'windows[0]': [11.0, 12.0] lies entirely outside [0, duration=10.0]"),
    (dict(clip_start_sec=-2.0, clip_end_sec=-1.0), 'lies entirely outside'),
])
def test_nested_ego4d_bad_query(tmp_path, edit, what):
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(_nlq([_query(), _query(**edit)])))
    assert_refused(path, 'ego4d_nlq_json',
             "videos[0].clips[0].annotations[0].language_queries[1]: "
             "qid 'a1_1'", what)


def test_nested_ego4d_query_without_its_window_end(tmp_path):
    q = _query()
    del q['clip_end_sec']
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(_nlq([_query(), q])))
    assert_refused(path, 'ego4d_nlq_json', "language_queries[1]: qid 'a1_1'",
             "missing field 'clip_end_sec'")


def test_nested_ego4d_queries_with_and_without_windows(tmp_path):
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(_nlq([_query(), dict(query='where?')])))
    assert_refused(path, 'ego4d_nlq_json', "language_queries[1]: qid 'a1_1'",
             "lacks a window ('clip_start_sec', 'clip_end_sec')")
    # the unannotated test layout: no query has a window
    path.write_text(json.dumps(_nlq([dict(query='where?')] * 2)))
    recs = load_grounding_annotations(path, fmt='ego4d_nlq_json')
    assert [(r.qid, r.windows) for r in recs] == [('a1_0', []),
                                                   ('a1_1', [])]


@pytest.mark.parametrize('edit,where,what', [
    (lambda d: d['videos'][0]['clips'][0].pop('clip_uid'),
     "language_queries[0]: qid 'a1_0'", "missing field 'clip_uid'"),
    (lambda d: d['videos'][0]['clips'][0].update(video_end_sec='15'),
     "language_queries[0]: qid 'a1_0'", "'video_end_sec' must be a number"),
    (lambda d: d['videos'][0]['clips'][0].update(video_end_sec=NAN),
     "language_queries[0]: qid 'a1_0'", "'video_end_sec' must be finite"),
    (lambda d: d['videos'][0]['clips'][0]['annotations'][0].pop(
        'annotation_uid'), 'language_queries[0]: qid None',
     "'annotation_uid' must be a str"),
    (lambda d: d['videos'][0]['clips'][0].pop('annotations'),
     'videos[0].clips[0]', "has no field 'annotations'"),
    (lambda d: d['videos'][0].update(clips={}), 'videos[0].clips',
     'must be a list, got dict'),
    (lambda d: d.update(videos=None), 'the file.videos',
     'must be a list, got NoneType'),
    (lambda d: d['videos'][0]['clips'][0]['annotations'][0].update(
        language_queries=['where?']), 'language_queries[0]',
     'must be an object, got str'),
])
def test_nested_ego4d_missing_or_wrong_type_field(tmp_path, edit, where,
                                                  what):
    doc = _nlq([_query()])
    edit(doc)
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(doc))
    assert_refused(path, 'ego4d_nlq_json', where, what)


def test_nested_ego4d_duplicate_qid(tmp_path):
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(_nlq([_query()], annotation_uids=('a', 'a'))))
    assert_refused(path, 'ego4d_nlq_json', "annotations[1].language_queries[0]: "
             "qid 'a_0': duplicate qid")


def test_nested_ego4d_not_utf8_or_not_an_object(tmp_path):
    path = tmp_path / 'nlq_val.json'
    text = json.dumps(_nlq([_query(query='caf\u00e9?')]), indent=1)
    path.write_bytes(text.encode().replace(b'\\u00e9', b'\xe9'))
    line = text.splitlines().index(
        next(ln for ln in text.splitlines() if 'caf' in ln)) + 1
    assert_refused(path, 'ego4d_nlq_json', f'line {line}: not UTF-8 text')
    path.write_text('[]')
    assert_refused(path, 'ego4d_nlq_json', 'the file must be an object, got list')


def test_nested_ego4d_without_any_query_with_text(tmp_path):
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(_nlq([dict(query=''), dict(query=None)])))
    assert_refused(path, 'ego4d_nlq_json',
             'holds no language query with text (2 without text)')
    path.write_text(json.dumps(dict(videos=[])))
    assert_refused(path, 'ego4d_nlq_json', 'holds no language query with text')


# --- R²-Tuning's YouTube Highlights / TVSum files --------------------------
def _youtube(tmp_path, labels, raw=None):
    vid = load_splits('youtube')['dog']['val'][0]
    path = tmp_path / 'youtube_anno.json'
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps({vid: labels}))
    store = _video_store(tmp_path)
    return path, vid, lambda: YouTubeHighlightsDataset(
        str(path), 'dog', store, store, split='val')


@pytest.mark.parametrize('labels,what', [
    (dict(match=[1, NAN, -1]), 'holds nan, not a finite number'),
    (dict(match=[1, '1']), "holds '1', not a finite number"),
    (dict(match=[]), 'must be a non-empty [clips] list'),
    (dict(match=5), 'must be a non-empty [clips] list'),
    (dict(domain='dog'), "field 'match' is missing"),
])
def test_highlight_labels_missing_wrong_type_or_nan(tmp_path, labels, what):
    path, vid, build = _youtube(tmp_path, labels)
    with pytest.raises(ValueError) as err:
        build()
    msg = str(err.value)
    assert str(path) in msg and f'video {vid!r}' in msg and what in msg


def test_highlight_file_with_a_video_twice_or_not_utf8(tmp_path):
    vid = load_splits('youtube')['dog']['val'][0]
    entry = json.dumps(dict(match=[1, -1]))
    raw = f'{{"{vid}": {entry},\n "{vid}": {entry}}}'.encode()
    path, _, build = _youtube(tmp_path, None, raw)
    with pytest.raises(ValueError, match=f"{path}: key '{vid}' appears "
                       'twice'):
        build()
    path, _, build = _youtube(tmp_path, None, b'{"x":\n "\xff"}')
    with pytest.raises(ValueError, match=f'{path}: line 2: not UTF-8'):
        build()


@pytest.mark.parametrize('fmt', ['qvhighlights', 'ego4d_nlq_jsonl'])
@pytest.mark.parametrize('windows,what', [
    ([], 'is empty: a record with ground truth has at least one window'),
    (None, 'must be a list, got NoneType'),
    ('2-4', 'must be a list, got str'),
])
def test_ground_truth_windows_empty_or_not_a_list(tmp_path, fmt, windows,
                                                  what):
    field = FORMATS[fmt][3]
    path = _second_record_bad(tmp_path, fmt,
                              lambda r: r.update({field: windows}))
    assert_refused(path, fmt, "line 2: qid 'bad'", f"field '{field}' {what}")
