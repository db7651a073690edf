"""GroundNLQ data pipeline: official Ego4D NLQ annotations over LMDB stores,
the bad inputs of the official data, jitter, packing, query text."""
import json
import logging
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import vtg_groundnlq  # noqa: F401
from vtg_groundnlq.datasets import (Ego4DNLQDataset, NLQTemporalJitter,
                                    PackGroundNLQInputs, normalize_nlq_query,
                                    parse_nlq_qid)
from vtg_plugins.datasets import EGO4D_CLIP_LEN
from vtg_plugins.testing import make_ego4d_nlq

DV, DT = 16, 8


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture(scope='module')
def nlq(tmp_path_factory):
    root = tmp_path_factory.mktemp('nlq')
    data = make_ego4d_nlq(root, splits=dict(train=2, val=2), vid_dim=DV,
                          txt_dim=DT, num_feats=(20, 24), seed=5)
    return data


def _edit_json(src, dst, edit):
    doc = json.loads(src.read_text())
    edit(doc)
    dst.write_text(json.dumps(doc))
    return dst


def _dataset(data, ann, **kw):
    kw.setdefault('pipeline', [dict(type='PackGroundNLQInputs')])
    return Ego4DNLQDataset(
        ann_file=str(ann),
        video_store=dict(type='LMDBStore', root=str(data.video_root)),
        query_store=dict(type='LMDBStore', root=str(data.query_root)),
        **kw)


def _clips(doc):
    return [c for v in doc['videos'] for c in v['clips']]


def test_nested_json_keeps_submission_keys_and_packs(nlq):
    ds = _dataset(nlq, nlq.extra['nlq_val'], test_mode=True)
    doc = json.loads(nlq.extra['nlq_val'].read_text())
    clip = _clips(doc)[0]
    ann = clip['annotations'][0]
    assert len(ds) == 4  # 2 clips x 2 queries
    info = ds.get_data_info(1)
    assert info['qid'] == f"{ann['annotation_uid']}_1"
    assert (info['clip_uid'], info['annotation_uid'],
            info['query_idx']) == (clip['clip_uid'], ann['annotation_uid'], 1)
    out = ds[1]
    q = ann['language_queries'][1]
    sample = out['data_samples']
    assert sample.query_idx == 1 and sample.clip_uid == clip['clip_uid']
    assert sample.fps == 30.0 and sample.feat_stride == 16.043
    assert sample.duration == pytest.approx(clip['video_end_sec'])
    assert sample.relevant_windows == [[q['clip_start_sec'],
                                        q['clip_end_sec']]]
    video = out['inputs']['video']
    assert video.dtype == torch.float32 and video.shape[1] == DV
    assert video.shape[0] == round(clip['video_end_sec'] / EGO4D_CLIP_LEN)
    assert out['inputs']['query'].shape[1] == DT
    assert torch.equal(sample.gt_windows,
                       torch.tensor([[q['clip_start_sec'],
                                      q['clip_end_sec']]],
                                    dtype=torch.float64))


def test_textless_queries_are_skipped_and_logged(nlq, tmp_path, caplog):
    """As the official reformat_data.py: no record, and query_idx still
    counts the text-less query, so the next one keeps its index."""

    def edit(doc):
        _clips(doc)[0]['annotations'][0]['language_queries'][0]['query'] = ''

    ann = _edit_json(nlq.extra['nlq_val'], tmp_path / 'nlq_val.json', edit)
    logger = MMLogger.get_current_instance()  # has no parent to propagate to
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            ds = _dataset(nlq, ann, test_mode=True)
    finally:
        logger.removeHandler(caplog.handler)
    clip = _clips(json.loads(ann.read_text()))[0]
    uid = clip['annotations'][0]['annotation_uid']
    assert len(ds) == 3
    assert [ds.get_data_info(i)['query_idx'] for i in range(3)][0] == 1
    assert 'skipped 1 language query without text' in caplog.text
    assert f"{clip['clip_uid']}/{uid}_0" in caplog.text


def test_window_past_clip_end_is_kept(nlq, tmp_path):
    end = {}

    def edit(doc):
        clip = _clips(doc)[1]
        q = clip['annotations'][0]['language_queries'][1]
        q['clip_end_sec'] = clip['video_end_sec'] + 3.0
        end['value'] = q['clip_end_sec']

    ann = _edit_json(nlq.extra['nlq_val'], tmp_path / 'nlq_val.json', edit)
    ds = _dataset(nlq, ann, test_mode=True)
    assert ds.get_data_info(3)['windows'][0][1] == end['value']
    assert ds[3]['data_samples'].gt_windows[0, 1].item() == end['value']


def test_missing_clip_is_an_error_naming_it(nlq, tmp_path):

    def edit(doc):
        _clips(doc)[0]['clip_uid'] = 'clip-without-features'

    ann = _edit_json(nlq.extra['nlq_train'], tmp_path / 'nlq_train.json',
                     edit)
    with pytest.raises(ValueError, match=r"lacks 1 key.*clip-without-feat"):
        _dataset(nlq, ann)
    dropped = _dataset(nlq, ann, on_missing='drop')
    assert len(dropped) == 2 and all(
        dropped.get_data_info(i)['vid'] != 'clip-without-features'
        for i in range(2))
    with pytest.raises(ValueError, match='denominator'):
        _dataset(nlq, ann, on_missing='drop', test_mode=True)


def test_missing_query_features_are_an_error(nlq, tmp_path):

    def edit(doc):
        _clips(doc)[0]['annotations'][0]['annotation_uid'] = 'no-text-feat'

    ann = _edit_json(nlq.extra['nlq_train'], tmp_path / 'nlq_train.json',
                     edit)
    with pytest.raises(ValueError, match=r"query store.*'no-text-feat_0'"):
        _dataset(nlq, ann)


def test_flat_jsonl_gives_the_same_samples(nlq):
    nested = _dataset(nlq, nlq.extra['nlq_val'], test_mode=True)
    flat = _dataset(nlq, nlq.annotations['val'], ann_format='ego4d_nlq_jsonl',
                    test_mode=True)
    assert len(flat) == len(nested)
    for i in range(len(flat)):
        a, b = flat.get_data_info(i), nested.get_data_info(i)
        for key in ('qid', 'clip_uid', 'annotation_uid', 'query_idx',
                    'windows'):
            assert a[key] == b[key]
        assert a['duration'] == pytest.approx(b['duration'])


def test_unsubmittable_qid_refused_on_an_evaluated_split(nlq, tmp_path):
    ann = tmp_path / 'narr.jsonl'
    rows = [json.loads(x) for x in
            nlq.annotations['val'].read_text().splitlines()]
    rows[0]['query_id'] = 'clip_narrator-1_x'
    ann.write_text('\n'.join(json.dumps(r) for r in rows))
    with pytest.raises(ValueError, match="'clip_narrator-1_x'.*submitted"):
        _dataset(nlq, ann, ann_format='ego4d_nlq_jsonl', test_mode=True)
    assert parse_nlq_qid('ab-c_12') == ('ab-c', 12)
    assert parse_nlq_qid('clip_narrator-1_x') is None
    assert parse_nlq_qid('c1_narrator-2_3') is None  # a narration id


def test_temporal_jitter_official_rule(monkeypatch):
    """window [10, 14]: centre 12, length 4; scale 3, uniform 0.5 ->
    shift 0.5 * 2 * 4 / 2 = 2, centre 10, half-length 6 -> [4, 16]."""
    monkeypatch.setattr(random, 'randint', lambda a, b: 3)
    monkeypatch.setattr(random, 'uniform', lambda a, b: 0.5)
    out = NLQTemporalJitter()(dict(windows=[[10.0, 14.0], [1.0, 2.0]]))
    # second: centre 1.5, length 1: shift 0.5, centre 1.0, [-0.5, 2.5]
    np.testing.assert_allclose(out['gt_windows'],
                               [[4.0, 16.0], [-0.5, 2.5]])
    monkeypatch.undo()
    random.seed(0)
    out = NLQTemporalJitter(max_scale=1)(dict(windows=[[10.0, 14.0]]))
    np.testing.assert_allclose(out['gt_windows'], [[10.0, 14.0]])


def test_jittered_windows_reach_the_loss_and_the_model_trains(nlq):
    ds = _dataset(nlq, nlq.extra['nlq_train'],
                  pipeline=[dict(type='NLQTemporalJitter'),
                            dict(type='PackGroundNLQInputs')])
    random.seed(1)
    sample = ds[0]['data_samples']
    windows = torch.tensor(sample.relevant_windows, dtype=torch.float64)
    assert sample.gt_windows.shape == (1, 2)
    # rescaled by an integer factor in [1, 10] of the annotated length
    ratio = (sample.gt_windows[0, 1] - sample.gt_windows[0, 0]) / (
        windows[0, 1] - windows[0, 0])
    assert 1 <= ratio <= 10 and abs(ratio - ratio.round()) < 1e-9
    from vtg_plugins.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='GroundNLQ', input_vid_dim=DV, input_txt_dim=DT,
             embd_dim=16, backbone_arch=(2, 1, 1, 0, 2), n_head=2,
             max_seq_len=32, regression_range=[(0, 4), (2, 8), (4, 1e4)]))
    batch = pseudo_collate([ds[i] for i in range(2)])
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert torch.isfinite(losses['loss_cls'] + losses['loss_reg'])
    assert losses['loss_reg'] > 0  # the GT landed on the feature grid


def test_pack_errors_name_the_query():
    pack = PackGroundNLQInputs()
    info = dict(qid='a_0', vid='v', windows=[], duration=5.0,
                video_feat=np.zeros((4, DV), np.float16),
                query_feat=np.zeros((3, DT), np.float32))
    with pytest.raises(ValueError, match=r"qid 'a_0' \(clip 'v'\).*no gro"):
        pack(dict(info))
    out = PackGroundNLQInputs(with_gt=False)(dict(info))
    assert out['inputs']['video'].dtype == torch.float32
    assert 'gt_windows' not in out['data_samples']
    bad = dict(info, query_feat=np.zeros((3, 1, DT), np.float32))
    with pytest.raises(ValueError, match=r"'a_0'.*query features"):
        PackGroundNLQInputs(with_gt=False)(bad)


def test_query_normalization_is_the_official_one():
    assert normalize_nlq_query('Where is my phone? ') == 'where is my phone?'
    assert normalize_nlq_query('What did I cut.') == 'what did i cut?'
    # strips run in order '.', ' ', '?': a '.' behind the '?' stays
    assert normalize_nlq_query('Where. ?') == 'where. ?'
