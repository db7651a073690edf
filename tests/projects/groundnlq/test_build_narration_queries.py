"""projects/groundnlq/tools/build_narration_queries.py on a tiny EgoClip
csv and NLQ / MQ train jsons written here; expectations worked out by hand from
the official create_pretrain_data_from_egoclip.py rule."""
import importlib.util
import json
from pathlib import Path

import pytest

from vtg_plugins.datasets import EGO4D_CLIP_LEN, load_grounding_annotations

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'groundnlq' / \
    'tools' / 'build_narration_queries.py'
HEADER = ['video_uid', 'video_dur', 'narration_source', 'narration_ind',
          'narration_time', 'clip_start', 'clip_end', 'clip_text',
          'tag_verb', 'tag_noun']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('_build_narr', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _csv(path, rows):
    lines = ['\t'.join(HEADER)]
    lines += ['\t'.join(str(v) for v in r) for r in rows]
    path.write_text('\n'.join(lines) + '\n')
    return path


def _clips_json(path, videos):
    doc = dict(videos=[
        dict(video_uid=vid, clips=[
            dict(clip_uid=uid, video_start_sec=s, video_end_sec=e)
            for uid, s, e in clips
        ]) for vid, clips in videos
    ])
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def inputs(tmp_path):
    rows = [
        # video A, clip a1 = [100, 200] of the video
        ('A', 900, 'narration_pass_1', 3, 120.5, 120.0, 121.0,
         '#C C picks a cup', '[]', '[]'),
        # on the clip start: not strictly inside -> dropped
        ('A', 900, 'narration_pass_1', 4, 100.4, 100.0, 101.0,
         '#C C opens a door', '[]', '[]'),
        ('A', 900, 'narration_pass_2', 7, 150.0, 149.5, 151.0,
         '#C C drops the cup', '[]', '[]'),
        # past the clip end -> dropped
        ('A', 900, 'narration_pass_1', 9, 199.8, 199.5, 200.5,
         '#C C sits', '[]', '[]'),
        # video B, clip b1 = [0, 50]
        ('B', 60, 'narration_pass_1', 0, 10.0, 9.0, 11.0,
         '#C C reads', '[]', '[]'),
        # a malformed row (3 fields): skipped as pandas' error_bad_lines
        ('B', 60, 'narration_pass_1'),
        # video C has no clip in the task files
        ('C', 60, 'narration_pass_1', 0, 10.0, 9.0, 11.0, '#C C runs', '[]',
         '[]'),
    ]
    egoclip = _csv(tmp_path / 'egoclip.csv', rows)
    nlq = _clips_json(tmp_path / 'nlq_train.json',
                      [('A', [('a1', 100.0, 200.0)])])
    # MQ repeats clip a1 (taken once) and adds b1
    mq = _clips_json(tmp_path / 'moments_train.json',
                     [('A', [('a1', 100.0, 200.0)]),
                      ('B', [('b1', 0.0, 50.0)])])
    return egoclip, nlq, mq


def test_normalized_queries(tool, inputs, tmp_path, capsys):
    egoclip, nlq, mq = inputs
    out = tmp_path / 'out' / 'narr.jsonl'
    assert tool.main([str(egoclip), str(nlq), str(mq), '--out',
                      str(out)]) == 0
    err = capsys.readouterr().err
    assert 'skipped 1 malformed rows' in err and '[7]' in err
    recs = load_grounding_annotations(out, window_policy='error')
    assert [r.qid for r in recs] == ['a1_narrator-1_3', 'a1_narrator-2_7',
                                     'b1_narrator-1_0']
    a = recs[0]
    assert a.vid == 'a1' and a.query == '#C C picks a cup'
    assert a.duration == 100.0 and a.windows == [[20.0, 21.0]]
    assert a.clip_len == pytest.approx(EGO4D_CLIP_LEN)
    assert a.extra['narration_time'] == pytest.approx(20.5)
    assert a.extra['video_uid'] == 'A'
    assert recs[1].windows == [[49.5, 51.0]]
    assert recs[2].duration == 50.0 and recs[2].windows == [[9.0, 11.0]]


def test_official_jsonl_format(tool, inputs, tmp_path):
    egoclip, nlq, mq = inputs
    out = tmp_path / 'narr_official.jsonl'
    tool.main([str(egoclip), str(nlq), str(mq), '--out', str(out),
               '--format', 'groundnlq'])
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0] == dict(narration_query='#C C picks a cup',
                           query_id='a1_narrator-1_3', duration=100.0,
                           video_id='a1', query_type='nlq_narration',
                           timestamps=[[20.0, 21.0]])
    assert len(rows) == 3


def test_bad_rows_name_the_line(tool, tmp_path):
    nlq = _clips_json(tmp_path / 'nlq.json', [('A', [('a1', 0.0, 100.0)])])
    bad_source = _csv(tmp_path / 'e1.csv', [
        ('A', 900, 'narration_pass_1', 1, 5.0, 4.0, 6.0, 'x', '', ''),
        ('A', 900, 'summary', 2, 10.0, 9.0, 11.0, 'y', '', '')])
    with pytest.raises(ValueError, match=r"line 3: narration_source "
                                         r"'summary'"):
        tool.main([str(bad_source), str(nlq), '--out',
                   str(tmp_path / 'o.jsonl')])
    dup = _csv(tmp_path / 'e2.csv', [
        ('A', 900, 'narration_pass_1', 1, 5.0, 4.0, 6.0, 'x', '', ''),
        ('A', 900, 'narration_pass_1', 1, 8.0, 7.0, 9.0, 'x', '', '')])
    with pytest.raises(ValueError, match=r"line 3: query id "
                                         r"'a1_narrator-1_1' repeats line 2"):
        tool.main([str(dup), str(nlq), '--out', str(tmp_path / 'o.jsonl')])
    inverted = _csv(tmp_path / 'e3.csv', [
        ('A', 900, 'narration_pass_1', 1, 5.0, 6.0, 4.5, 'x', '', '')])
    with pytest.raises(ValueError, match=r"line 2 \(clip 'a1'\).*start"):
        tool.main([str(inverted), str(nlq), '--out',
                   str(tmp_path / 'o.jsonl')])
    assert not (tmp_path / 'o.jsonl').exists()
