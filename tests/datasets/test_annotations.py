import json

import pytest

from vtg_plugins.datasets import (GroundingRecord, dump_grounding_annotations,
                                  load_ego4d_nlq_json,
                                  load_grounding_annotations, read_records)
from vtg_plugins.registry import ANNOTATION_LOADERS


def _rec(**kw):
    rec = dict(qid='q0', vid='v0', query='a dog runs', duration=10.0,
               windows=[[2.0, 4.0]], clip_len=2.0, saliency=None, extra={})
    rec.update(kw)
    return rec


def _jsonl(path, records):
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path


def test_roundtrip_and_blank_lines(tmp_path):
    sal = [[1, 2], [0, 0], [3, 4], [0, 1], [2, 2]]
    recs = [_rec(), _rec(qid='q1', windows=[], saliency=sal,
                         extra={'a': [1]})]
    path = tmp_path / 'a.jsonl'
    path.write_text(json.dumps(recs[0]) + '\n\n' + json.dumps(recs[1]) + '\n')
    loaded = load_grounding_annotations(path)
    assert [r.qid for r in loaded] == ['q0', 'q1']
    assert loaded[1].saliency == [[float(v) for v in row] for row in sal]
    assert loaded[1].extra == {'a': [1]}
    out = tmp_path / 'b.jsonl'
    dump_grounding_annotations(loaded, out)
    assert load_grounding_annotations(out) == loaded
    assert isinstance(loaded[0], GroundingRecord)


def test_start_after_end_names_file_line_qid_field(tmp_path):
    path = _jsonl(tmp_path / 'a.jsonl',
                  [_rec(), _rec(qid='bad', windows=[[1, 2], [5.0, 3.0]])])
    with pytest.raises(ValueError) as e:
        load_grounding_annotations(path)
    msg = str(e.value)
    assert str(path) in msg and 'line 2' in msg and "'bad'" in msg
    assert 'windows[1]' in msg and 'start 5.0 > end 3.0' in msg


@pytest.mark.parametrize('policy,expected', [('clip', [[8.0, 10.0]]),
                                             ('keep', [[8.0, 10.5]])])
def test_window_past_duration_policies(tmp_path, policy, expected):
    path = _jsonl(tmp_path / 'a.jsonl', [_rec(windows=[[8.0, 10.5]])])
    with pytest.raises(ValueError, match=r"line 1: qid 'q0'.*windows\[0\]"):
        load_grounding_annotations(path)
    recs = load_grounding_annotations(path, window_policy=policy)
    assert recs[0].windows == expected


def test_tolerance_and_negative_start(tmp_path):
    path = _jsonl(tmp_path / 'a.jsonl', [_rec(windows=[[-0.0005, 10.0009]])])
    # inside the default 1e-3 s tolerance: accepted unchanged
    assert load_grounding_annotations(path)[0].windows == [[-0.0005, 10.0009]]
    with pytest.raises(ValueError, match='outside'):
        load_grounding_annotations(path, tolerance=1e-4)
    path = _jsonl(tmp_path / 'b.jsonl', [_rec(windows=[[-1.0, 3.0]])])
    assert load_grounding_annotations(
        path, window_policy='clip')[0].windows == [[0.0, 3.0]]
    # a window starting after the end cannot be clipped into the video
    path = _jsonl(tmp_path / 'c.jsonl', [_rec(windows=[[11.0, 12.0]])])
    with pytest.raises(ValueError, match='outside'):
        load_grounding_annotations(path, window_policy='clip')


def test_clip_clamps_windows_within_the_tolerance_too(tmp_path):
    path = _jsonl(tmp_path / 'a.jsonl',
                  [_rec(windows=[[-0.0005, 10.0009], [10.0005, 10.0008]])])
    assert load_grounding_annotations(
        path, window_policy='clip')[0].windows == [[0.0, 10.0], [10.0, 10.0]]
    assert load_grounding_annotations(
        path, window_policy='keep')[0].windows == [[-0.0005, 10.0009],
                                                   [10.0005, 10.0008]]


def test_official_unannotated_test_splits_load_without_windows(tmp_path):
    """The official QVHighlights / Ego4D NLQ test files have no ground
    truth field in any record."""
    path = _jsonl(tmp_path / 'highlight_test_release.jsonl', [
        dict(qid=3158, query='a boat', duration=150, vid='_6hnl_360.0_510.0'),
        dict(qid=7920, query='a car', duration=150, vid='_6hnl_60.0_210.0')
    ])
    recs = load_grounding_annotations(path, fmt='qvhighlights')
    assert [(r.qid, r.windows, r.saliency) for r in recs] == [
        ('3158', [], None), ('7920', [], None)]
    path = _jsonl(tmp_path / 'ego4d_nlq_test_v2.jsonl', [
        dict(query='where?', query_id='a_0', duration=480.0, video_id='c1',
             query_type='nlq')
    ])
    rec, = load_grounding_annotations(path, fmt='ego4d_nlq_jsonl')
    assert (rec.qid, rec.windows) == ('a_0', [])


@pytest.mark.parametrize('bad,field', [
    (dict(qid=3), "'qid' must be a str"),
    (dict(duration='10'), "'duration' must be a number"),
    (dict(duration=float('nan')), "'duration' must be finite"),
    (dict(duration=0), "'duration' must be > 0"),
    (dict(windows=[[1, 2, 3]]), "'windows[0]' must be a [start, end] pair"),
    (dict(saliency=[[1], [1], [1]]), "'saliency' has 3 clips, expected 5..5"),
    (dict(saliency=[[1, 2]] * 4 + [[1]]), "'saliency[4]' has 1 scores"),
    (dict(extra=[]), "'extra' must be an object"),
    (dict(foo=1), "unknown field(s) ['foo']"),
])
def test_bad_fields(tmp_path, bad, field):
    path = _jsonl(tmp_path / 'a.jsonl', [_rec(**bad)])
    with pytest.raises(ValueError) as e:
        load_grounding_annotations(path)
    assert field in str(e.value) and str(path) in str(e.value)


def test_missing_field_bad_json_duplicate_and_json_list(tmp_path):
    rec = _rec()
    del rec['vid']
    path = _jsonl(tmp_path / 'a.jsonl', [rec])
    with pytest.raises(ValueError, match=r"missing field\(s\) \['vid'\]"):
        load_grounding_annotations(path)
    path = tmp_path / 'b.jsonl'
    path.write_text(json.dumps(_rec()) + '\n{"qid": \n')
    with pytest.raises(ValueError, match='line 2: invalid JSON'):
        load_grounding_annotations(path)
    path = _jsonl(tmp_path / 'c.jsonl', [_rec(), _rec(vid='v1')])
    with pytest.raises(ValueError, match='line 2.*duplicate qid, first seen '
                       'at line 1'):
        load_grounding_annotations(path)
    path = tmp_path / 'd.json'
    path.write_text(json.dumps([_rec(), _rec(qid='x', windows=[[3, 1]])]))
    with pytest.raises(ValueError, match=r"record #1: qid 'x'"):
        load_grounding_annotations(path)
    with pytest.raises(FileNotFoundError, match='nope.jsonl'):
        load_grounding_annotations(tmp_path / 'nope.jsonl')


def test_qvhighlights_format(tmp_path):
    raw = dict(qid=7, query='q', duration=8, vid='v_0_8',
               relevant_clip_ids=[1, 2], saliency_scores=[[4, 3, 2],
                                                          [0, 0, 0]],
               relevant_windows=[[2, 6]], extra_field='x')
    path = _jsonl(tmp_path / 'qvh.jsonl', [raw])
    rec, = load_grounding_annotations(path, fmt='qvhighlights')
    assert rec.qid == '7' and rec.windows == [[2.0, 6.0]]
    assert rec.saliency == [[0, 0, 0], [4, 3, 2], [0, 0, 0], [0, 0, 0]]
    assert rec.extra == {'extra_field': 'x', 'relevant_clip_ids': [1, 2]}
    raw['relevant_clip_ids'] = [1, 4]
    _jsonl(path, [raw])
    with pytest.raises(ValueError, match=r"qid 7: .*'relevant_clip_ids': "
                       r'clip 4 outside \[0, 4\)'):
        load_grounding_annotations(path, fmt='qvhighlights')
    raw['relevant_clip_ids'] = [1, 2]
    del raw['vid']
    _jsonl(path, [raw])
    with pytest.raises(ValueError, match="missing field 'vid'"):
        load_grounding_annotations(path, fmt='qvhighlights')
    with pytest.raises(ValueError, match='unknown annotation format'):
        load_grounding_annotations(path, fmt='nope')


def test_ego4d_formats_keep_window_past_clip_end(tmp_path):
    # as in the official val split: the window ends 0.03 s past the clip
    row = dict(query='where?', query_id='a_0', duration=480.0366739908854,
               video_id='c1', query_type='nlq',
               timestamps=[[468.95576, 480.067]])
    path = _jsonl(tmp_path / 'nlq.jsonl', [row])
    with pytest.raises(ValueError, match="qid 'a_0'"):
        load_grounding_annotations(path, fmt='ego4d_nlq_jsonl')
    rec, = load_grounding_annotations(path, fmt='ego4d_nlq_jsonl',
                                      window_policy='keep')
    assert rec.windows == [[468.95576, 480.067]] and rec.vid == 'c1'
    assert rec.extra == {'query_type': 'nlq'}
    nested = dict(videos=[dict(video_uid='V', clips=[dict(
        clip_uid='c1', video_start_sec=10.0, video_end_sec=490.0,
        annotations=[dict(annotation_uid='a', language_queries=[
            dict(query='', clip_start_sec=0, clip_end_sec=1),
            dict(query='where?', clip_start_sec=1.5, clip_end_sec=480.02,
                 template='T')])])])])
    path = tmp_path / 'nlq_val.json'
    path.write_text(json.dumps(nested))
    rec, = load_ego4d_nlq_json(path)
    # the skipped empty query still counts in the index (as GroundNLQ does)
    assert rec.qid == 'a_1' and rec.duration == 480.0
    assert rec.windows == [[1.5, 480.02]]
    assert rec.extra == dict(video_uid='V', annotation_uid='a', template='T')
    with pytest.raises(ValueError, match=r"language_queries\[1\]: qid 'a_1'"):
        load_ego4d_nlq_json(path, window_policy='error')
    # the nested file through the registry, as datasets read it
    assert load_grounding_annotations(
        path, fmt='ego4d_nlq_json', window_policy='keep') == [rec]


def test_formats_are_a_registry_of_loaders(tmp_path):
    assert {'normalized', 'qvhighlights', 'ego4d_nlq_jsonl',
            'ego4d_nlq_json'} <= set(ANNOTATION_LOADERS.module_dict)

    def csv_to_record(line):
        qid, start, end = line['row'].split(',')
        return _rec(qid=qid, windows=[[float(start), float(end)]])

    @ANNOTATION_LOADERS.register_module(name='test_csv_rows')
    def load_csv_rows(path, window_policy='error', tolerance=1e-3, scale=1):
        return read_records(path, csv_to_record, window_policy, tolerance)

    try:
        path = _jsonl(tmp_path / 'rows.jsonl',
                      [dict(row='a,1,2'), dict(row='b,3,12')])
        with pytest.raises(ValueError, match=r"line 2: qid None: .*windows"):
            load_grounding_annotations(path, fmt='test_csv_rows')
        recs = load_grounding_annotations(
            path, fmt='test_csv_rows', window_policy='clip', scale=2)
        assert [(r.qid, r.windows) for r in recs] == [('a', [[1.0, 2.0]]),
                                                      ('b', [[3.0, 10.0]])]
        with pytest.raises(ValueError) as e:
            load_grounding_annotations(path, fmt='test_csv_rows', clip=1)
        assert str(path) in str(e.value)
        assert "'test_csv_rows' has no option(s) ['clip']; its options: " \
            "['scale']" in str(e.value)
    finally:
        ANNOTATION_LOADERS._module_dict.pop('test_csv_rows')
    with pytest.raises(ValueError, match=r"format 'normalized' has no "
                       r"option\(s\) \['clip_len'\]"):
        load_grounding_annotations(path, clip_len=2.0)
    with pytest.raises(ValueError, match="unknown annotation format "
                       "'test_csv_rows'; known: .*'qvhighlights'"):
        load_grounding_annotations(path, fmt='test_csv_rows')
