"""The query id as the annotation file typed it (``source_qid``): kept by
every shared loader beside the str ``qid``, checked, written into normalized
files, and carried by the datasets and the grounding pack transforms into
the data samples the metrics read (docs/data_contracts.md)."""
import json

import numpy as np
import pytest

from vtg_groundnlq.datasets import PackGroundNLQInputs
from vtg_plugins.datasets import (GroundingDataset, dump_grounding_annotations,
                                  load_grounding_annotations)
from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_plugins.testing import make_ego4d_nlq
from vtg_r2_tuning.datasets import PackR2Inputs


def _qvh(qid, vid='v0'):
    return dict(
        qid=qid,
        vid=vid,
        query='a dog runs',
        duration=10,
        relevant_windows=[[2, 4]],
        relevant_clip_ids=[1],
        saliency_scores=[[1, 2, 3]])


def _normalized(qid, **kw):
    return dict(
        qid=qid,
        vid='v0',
        query='a dog runs',
        duration=10.0,
        windows=[[2.0, 4.0]],
        clip_len=2.0,
        **kw)


def _jsonl(path, rows):
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


@pytest.mark.parametrize('qids', [[32, 0, 7], ['32', 'q1', ' 7']])
def test_qvhighlights_keeps_the_file_type(tmp_path, qids):
    path = _jsonl(tmp_path / 'a.jsonl', [_qvh(q) for q in qids])
    recs = load_grounding_annotations(path, fmt='qvhighlights')
    assert [r.qid for r in recs] == [str(q) for q in qids]
    assert [r.source_qid for r in recs] == qids
    assert [type(r.source_qid) for r in recs] == [type(q) for q in qids]


def test_int_and_str_of_the_same_id_are_one_qid(tmp_path):
    path = _jsonl(tmp_path / 'a.jsonl', [_qvh(7), _qvh('7')])
    with pytest.raises(
            ValueError,
            match=r"line 2: qid '7': duplicate qid, "
            'first seen at line 1'):
        load_grounding_annotations(path, fmt='qvhighlights')


def test_normalized_roundtrip_keeps_int_ids(tmp_path):
    src = _jsonl(tmp_path / 'src.jsonl', [_qvh(32), _qvh('q1')])
    recs = load_grounding_annotations(src, fmt='qvhighlights')
    out = tmp_path / 'norm.jsonl'
    dump_grounding_annotations(recs, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r['qid'], r['source_qid']) for r in rows] == [('32', 32),
                                                           ('q1', 'q1')]
    assert load_grounding_annotations(out) == recs


def test_normalized_without_source_qid_keeps_the_str(tmp_path):
    path = _jsonl(tmp_path / 'a.jsonl', [_normalized('32')])
    (rec, ) = load_grounding_annotations(path)
    assert rec.source_qid == '32' and rec.to_dict()['source_qid'] == '32'


@pytest.mark.parametrize('source, what', [
    (33, "'source_qid' 33 is not the qid '32'"),
    ('032', "'source_qid' '032' is not the qid '32'"),
    (32.0, "'source_qid' must be an int or a str, got float"),
    (True, "'source_qid' must be an int or a str, got bool"),
    (None, "'source_qid' must be an int or a str, got NoneType"),
    ('', "'source_qid' must not be empty"),
])
def test_bad_source_qid_names_file_line_and_qid(tmp_path, source, what):
    path = _jsonl(tmp_path / 'a.jsonl',
                  [_normalized('q0'),
                   _normalized('32', source_qid=source)])
    with pytest.raises(ValueError) as e:
        load_grounding_annotations(path)
    msg = str(e.value)
    assert str(path) in msg and "line 2: qid '32'" in msg, msg
    assert what in msg, msg


def test_ego4d_formats_keep_their_str_ids(tmp_path):
    data = make_ego4d_nlq(tmp_path, splits=dict(val=1), vid_dim=8, txt_dim=4)
    for fmt, ann in (('ego4d_nlq_json', data.extra['nlq_val']),
                     ('ego4d_nlq_jsonl', data.annotations['val'])):
        recs = load_grounding_annotations(ann, fmt=fmt, window_policy='keep')
        assert recs and all(
            isinstance(r.source_qid, str) and r.source_qid == r.qid
            for r in recs), fmt


def _r2_dataset(tmp_path, qids):
    """A GroundingDataset over a QVHighlights file with ``qids`` and
    ``[T, D]`` stores keyed by the str qid."""
    ann = _jsonl(tmp_path / 'val.jsonl',
                 [_qvh(q, vid=f'v{i}') for i, q in enumerate(qids)])
    vids = DirectoryWriter(tmp_path / 'vid', resume=False)
    txts = DirectoryWriter(tmp_path / 'txt', resume=False)
    for i, q in enumerate(qids):
        vids.add(f'v{i}', np.zeros((5, 4), np.float32))
        txts.add(str(q), np.zeros((3, 4), np.float32))
    vids.commit()
    txts.commit()
    return GroundingDataset(
        ann_file=str(ann),
        ann_format='qvhighlights',
        video_store=dict(type='DirectoryStore', root=str(tmp_path / 'vid')),
        query_store=dict(type='DirectoryStore', root=str(tmp_path / 'txt')),
        pipeline=[PackR2Inputs()],
        test_mode=True)


def test_dataset_and_r2_pack_carry_source_qid(tmp_path):
    ds = _r2_dataset(tmp_path, [32, 'q1'])
    assert [ds.get_data_info(i)['source_qid'] for i in range(2)] == [32, 'q1']
    samples = [ds[i]['data_samples'] for i in range(2)]
    assert [(s.qid, s.source_qid) for s in samples] == [('32', 32),
                                                        ('q1', 'q1')]


def test_groundnlq_pack_carries_source_qid():
    info = dict(
        qid='a_0',
        source_qid='a_0',
        vid='c',
        query='where?',
        duration=4.0,
        windows=[[0.0, 1.0]],
        video_feat=np.zeros((4, 2)),
        query_feat=np.zeros((2, 3)))
    sample = PackGroundNLQInputs()(info)['data_samples']
    assert sample.source_qid == 'a_0'
