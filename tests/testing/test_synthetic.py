import numpy as np
import pytest

from vtg_plugins.datasets import (DirectoryStore, LMDBStore,
                                  load_ego4d_nlq_json,
                                  load_grounding_annotations)
from vtg_plugins.features import check_recipe
from vtg_plugins.testing.synthetic import make_ego4d_nlq, make_qvhighlights


def _mean_tokens(q):
    """[L, (k,) C] -> [C]"""
    return q.reshape(-1, q.shape[-1]).mean(0)


def _clip_feats(v):
    """[T, (k, P,) C] -> [T, C]"""
    return v.reshape(v.shape[0], -1, v.shape[-1]).mean(1)


def _hit_rate(train, test, vstore, qstore):
    """Fit a linear query->video map on ``train`` by least squares; a
    ``test`` query is a hit when its clips inside the GT window score higher
    on average than those outside."""
    xs, ys = [], []
    for r in train:
        v = _clip_feats(vstore[r.vid].astype(np.float32))
        a, b = (round(x / r.clip_len) for x in r.windows[0])
        xs.append(_mean_tokens(qstore[r.qid].astype(np.float32)))
        ys.append(v[a:b].mean(0))
    w = np.linalg.lstsq(np.stack(xs), np.stack(ys), rcond=None)[0]
    hits = []
    for r in test:
        v = _clip_feats(vstore[r.vid].astype(np.float32))
        score = v @ (_mean_tokens(qstore[r.qid].astype(np.float32)) @ w)
        inside = np.zeros(len(v), bool)
        a, b = (round(x / r.clip_len) for x in r.windows[0])
        inside[a:b] = True
        hits.append(score[inside].mean() > score[~inside].mean())
    return np.mean(hits)


@pytest.mark.parametrize('plant', [True, False])
def test_qvhighlights_layout_and_planted_moment(tmp_path, plant):
    data = make_qvhighlights(tmp_path, splits={'train': 12, 'val': 10},
                             num_tokens=3, vis_dim=16, txt_dim=8, k=2,
                             plant=plant, seed=1)
    assert data.video_root == tmp_path / 'clip_b32_vid_k4'
    assert data.query_root == tmp_path / 'clip_b32_txt_k4'
    assert data.annotations['val'] == tmp_path / 'qvhighlights_val.jsonl'
    train, val = (load_grounding_annotations(data.annotations[s],
                                             fmt='qvhighlights')
                  for s in ('train', 'val'))
    assert len(train) == 24 and len(val) == 20
    vstore, qstore = DirectoryStore(data.video_root), DirectoryStore(
        data.query_root)
    check_recipe(vstore.meta, dict(layers=[11, 12], fps=0.5, dtype='float16'))
    for r in train + val:
        video = vstore[r.vid]
        assert video.dtype == np.float16 and video.shape[1:] == (2, 3, 16)
        assert video.shape[0] * 2.0 == r.duration
        q = qstore[r.qid]
        assert q.dtype == np.float16 and q.shape[1:] == (2, 8)
        assert 4 <= q.shape[0] <= 8
        a, b = (round(x / 2.0) for x in r.windows[0])
        assert r.extra['relevant_clip_ids'] == list(range(a, b))
        assert np.all(np.array(r.saliency)[a:b] >= 1)
    rate = _hit_rate(train, val, vstore, qstore)
    assert rate == 1.0 if plant else rate < 0.75


def test_qvhighlights_is_deterministic(tmp_path):
    kw = dict(splits={'train': 2}, num_tokens=2, vis_dim=4, txt_dim=4)
    a = make_qvhighlights(tmp_path / 'a', seed=3, **kw)
    b = make_qvhighlights(tmp_path / 'b', seed=3, **kw)
    assert (a.annotations['train'].read_bytes() ==
            b.annotations['train'].read_bytes())
    va, vb = DirectoryStore(a.video_root), DirectoryStore(b.video_root)
    assert va.keys() == vb.keys()
    np.testing.assert_array_equal(va[va.keys()[0]], vb[vb.keys()[0]])


@pytest.mark.parametrize('plant', [True, False])
def test_ego4d_nlq_layout_and_planted_moment(tmp_path, plant):
    data = make_ego4d_nlq(tmp_path, splits={'train': 14, 'val': 5},
                          vid_dim=16, txt_dim=8, plant=plant, seed=2)
    assert data.annotations['train'] == (
        tmp_path / 'ego4d_data' / 'ego4d_nlq_train_v2.jsonl')
    assert (tmp_path / 'lmdb' / 'video_features' / 'data.mdb').exists()
    train, val = (load_grounding_annotations(data.annotations[s],
                                             fmt='ego4d_nlq_jsonl')
                  for s in ('train', 'val'))
    nested = load_ego4d_nlq_json(data.extra['nlq_val'])
    assert [(r.qid, r.vid, r.windows) for r in nested] == [
        (r.qid, r.vid, r.windows) for r in val]
    vstore = LMDBStore(data.video_root)
    qstore = LMDBStore(data.query_root)
    assert vstore.meta['clip_len'] == pytest.approx(16.043 / 30)
    for r in train + val:
        v = vstore[r.vid]
        assert v.dtype == np.float32 and v.shape[1] == 16
        assert v.shape[0] * r.clip_len == pytest.approx(r.duration)
        assert qstore[r.qid].shape[1] == 8
    rate = _hit_rate(train, val, vstore, qstore)
    assert rate == 1.0 if plant else rate < 0.75


def test_ego4d_nlq_vocabulary_of_topics(tmp_path):
    """With ``num_topics`` every query draws one of that many topics, named
    by the object in its text: queries naming one object share the topic."""
    data = make_ego4d_nlq(tmp_path, splits={'train': 10, 'val': 4},
                          vid_dim=16, txt_dim=8, num_topics=3, seed=2)
    records = [
        r for s in ('train', 'val')
        for r in load_grounding_annotations(data.annotations[s],
                                            fmt='ego4d_nlq_jsonl')
    ]
    qstore = LMDBStore(data.query_root)
    topic = {}
    for r in records:
        topic.setdefault(r.query, []).append(_mean_tokens(qstore[r.qid]))
    assert set(topic) == {'where did i put the cup?',
                          'where did i put the knife?',
                          'where did i put the phone?'}
    centres = {q: np.mean(v, 0) for q, v in topic.items()}
    for q, vecs in topic.items():
        for v in vecs:  # each query lies nearest to its own object's centre
            dist = {c: np.linalg.norm(v - m) for c, m in centres.items()}
            assert min(dist, key=dist.get) == q
    with pytest.raises(ValueError, match='num_topics must be in 1..12'):
        make_ego4d_nlq(tmp_path / 'bad', num_topics=13)
