"""MomentRetrievalInferencer for both grounding methods, random-init tiny
models: R²-Tuning on tiny PyAV videos (and their feature files) with a tiny
CLIP; GroundNLQ on feature files of synthetic Ego4D NLQ clips with the
tiny CLIP's token features of the queries (its config's query recipe)."""
import json
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement

from vtg_plugins.apis import MomentRetrievalInferencer
from vtg_plugins.apis.windows import gather_candidates, sliding_windows
from vtg_plugins.features import FeatureRecipe, VideoDecodeError
from vtg_plugins.features.extractor import FeatureExtractor
from vtg_plugins.registry import DATASETS, INFERENCERS
from vtg_plugins.testing.feature_pipeline import TINY_CLIP

QUERIES = ['a red thing appears', 'green', 'a dog runs on the grass']
NLQ_QUERIES = ['where did i put the cup?', 'what did i cut', 'who is there']


@pytest.fixture(scope='module')
def r2(tmp_path_factory, setups):
    """13-s video: 7 clips at 0.5 fps."""
    return setups.write_r2_setup(tmp_path_factory.mktemp('r2'), 13)


@pytest.fixture(scope='module')
def r2_infer(r2):
    return MomentRetrievalInferencer(
        str(r2.cfg), str(r2.ckpt), clip_checkpoint=r2.clip)


@pytest.fixture(scope='module')
def gnlq(tmp_path_factory, setups):
    """Clips of 20-30 features (max_seq_len 64: one window)."""
    return setups.write_groundnlq_setup(tmp_path_factory.mktemp('gnlq'))


@pytest.fixture(scope='module')
def gnlq_infer(gnlq):
    return MomentRetrievalInferencer(
        gnlq.cfg, gnlq.ckpt, clip_checkpoint=gnlq.clip)


def _count(monkeypatch, obj, name):
    calls = []
    fn = getattr(obj, name)

    def wrapped(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapped)
    return calls


def _check_well_formed(pred, duration, max_rows, unit=None):
    assert pred['duration'] == pytest.approx(duration)
    win = np.asarray(pred['pred_relevant_windows'])
    assert win.ndim == 2 and win.shape[1] == 3 and 0 < len(win) <= max_rows
    assert (win[:, 0] >= 0).all() and (win[:, 1] <= duration + 1e-5).all()
    assert (win[:, 0] <= win[:, 1]).all()
    assert (np.diff(win[:, 2]) <= 0).all()  # best first
    if unit:  # rounded to the unit where they end before the duration
        inside = win[win[:, 1] < duration, :2]
        np.testing.assert_allclose(inside, np.round(inside / unit) * unit)


def _check_r2(pred, duration, num_clips):
    assert len(pred['pred_saliency_scores']) == num_clips
    _check_well_formed(pred, duration, 50, unit=2.0)


def _same(a, b, atol=0.):
    assert a.keys() == b.keys()
    for key in ('pred_relevant_windows', 'pred_saliency_scores'):
        if key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=atol)


def _write_store(root, meta, **arrays):
    """A directory feature store: ``{name}`` files and its meta.json."""
    root.mkdir(parents=True)
    if meta is not None:
        (root / 'meta.json').write_text(json.dumps(meta))
    for name, array in arrays.items():
        stem, ext = name.rsplit('_', 1)
        path = root / f'{stem}.{ext}'
        if ext == 'npy':
            np.save(path, array)
        elif ext == 'npz':
            np.savez(path, features=array)
        else:
            torch.save(torch.from_numpy(array), path)
    return root


# --------------------------------------------------------------- R²-Tuning
def test_r2_video_file_encoded_once(r2, r2_infer, monkeypatch):
    assert INFERENCERS.get('MomentRetrievalInferencer') is \
        MomentRetrievalInferencer
    for key, value in r2_infer.model.state_dict().items():  # loaded
        torch.testing.assert_close(value, r2.state[key], rtol=0, atol=0)
    assert r2_infer.query_extractor is r2_infer.video_extractor  # one CLIP
    assert r2_infer.max_clips == r2_infer.model.buffer_size
    ext = r2_infer.video_extractor
    decode = _count(monkeypatch, ext, 'read_frames')
    frames = _count(monkeypatch, ext, 'encode_frames')
    texts = _count(monkeypatch, ext, 'encode_queries')
    forward = _count(monkeypatch, r2_infer.model, 'predict')
    preds = r2_infer(video=str(r2.video), query=QUERIES)
    assert (len(decode), len(frames), len(texts), len(forward)) == (1, 1, 1, 1)
    assert len(texts[0][0]) == 3 and len(forward[0][0]['video']) == 3
    assert [p['query'] for p in preds] == QUERIES
    for p in preds:  # the container says 13 s
        assert p['vid'] == 'v'
        _check_r2(p, 13.0, 7)
    assert preds[0]['pred_saliency_scores'] != \
        preds[1]['pred_saliency_scores']


def test_r2_single_window_equals_predict(r2, r2_infer):
    """The model's predict on the features and fields of a test sample."""
    ext = FeatureExtractor(
        FeatureRecipe(backbone='ViT-B/32', k=2, fps=0.5, dtype='float16'),
        checkpoint=r2.clip,
        model_cfg=TINY_CLIP)
    video = torch.from_numpy(ext.encode_video(r2.video)).flatten(1)
    queries = [
        torch.from_numpy(q).flatten(1) for q in ext.encode_queries(QUERIES)
    ]
    samples = [
        BaseDataElement(metainfo=dict(fps=0.5, duration=13.0)) for _ in QUERIES
    ]
    with torch.no_grad():
        ref = r2_infer.model.predict(
            dict(video=[video] * 3, query=queries), samples)
    got_all = r2_infer(r2.video, QUERIES)
    assert len(got_all) == len(ref) == 3
    for got, want in zip(got_all, ref):
        assert got['pred_relevant_windows'] == want.pred_relevant_windows
        assert got['pred_saliency_scores'] == want.pred_saliency_scores


def test_r2_batch_equals_one_by_one(r2, r2_infer):
    batched = r2_infer(r2.video, QUERIES)
    assert [p['query'] for p in batched] == QUERIES
    for query, pred in zip(QUERIES, batched):
        _same(pred, r2_infer(r2.video, query)[0], atol=1e-4)


def test_r2_feature_files(r2, r2_infer, tmp_path):
    from_video = r2_infer(r2.video, QUERIES[:2])
    assert len(from_video) == 2
    feats = r2_infer.video_extractor.encode_video(r2.video)  # [T, k, P, C]
    assert feats.shape == (7, 2, 50, 64)
    store = _write_store(
        tmp_path / 'store',
        r2_infer.video_extractor.meta('video'),
        v_npy=feats,
        w_npz=feats.reshape(7, -1),
        x_pt=feats)
    for name in ('v.npy', 'w.npz', 'x.pt'):
        preds = r2_infer(store / name, QUERIES[:2], duration=13.0)
        assert len(preds) == 2
        for a, b in zip(preds, from_video):
            assert a['vid'] == name[0]
            _same(a, b)
    for video in (feats, feats.reshape(7, -1), torch.from_numpy(feats)):
        preds = r2_infer(video, QUERIES[:2], duration=13.0)
        assert len(preds) == 2
        for a, b in zip(preds, from_video):
            assert 'vid' not in a
            _same(a, {k: v for k, v in b.items() if k != 'vid'})
    # no duration given: T * clip_len = 14 s
    _check_r2(r2_infer(store / 'v.npy', 'green')[0], 14.0, 7)


def test_r2_feature_file_recipe_checked(r2, r2_infer, tmp_path):
    feats = r2_infer.video_extractor.encode_video(r2.video)
    meta = dict(r2_infer.video_extractor.meta('video'), layers=[1, 2])
    bad = _write_store(tmp_path / 'bad', meta, v_npy=feats)
    with pytest.raises(
            ValueError,
            match=r'bad/v\.npy.*layers: store has '
            r'\[1, 2\], expected \[2, 3\]'):
        r2_infer(bad / 'v.npy', 'green')
    # a store without meta.json: accepted, with one warning naming it
    bare = _write_store(tmp_path / 'bare', None, v_npy=feats, w_npy=feats)
    with pytest.warns(UserWarning, match=r'bare has no meta\.json'):
        first = r2_infer(bare / 'v.npy', 'green')[0]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        second = r2_infer(bare / 'w.npy', 'green')[0]
    _same(first, dict(second, vid='v'))


def test_r2_checkpoint_meta_recipe(setups, tmp_path):
    """A recipe stored in the checkpoint beats the config's: 1 fps gives
    13 one-second clips."""
    s = setups.write_r2_setup(tmp_path, 13, dict(feature_recipe=dict(fps=1.0)))
    infer = MomentRetrievalInferencer(s.cfg, s.ckpt, clip_checkpoint=s.clip)
    assert infer.video_extractor.recipe.fps == 1.0 and infer.clip_len == 1.0
    _check_r2(infer(s.video, 'green')[0], 13.0, 13)


def test_r2_recipe_mismatch_refused(r2):
    # the official QVHighlights layers do not exist in a 3-block CLIP
    with pytest.raises(ValueError, match=r'layers: store has \[2, 3\]'):
        MomentRetrievalInferencer(
            r2.cfg, clip_checkpoint=r2.clip, recipe=dict(layers=[9, 10, 11]))
    with pytest.raises(ValueError, match='clip.pt has hash'):
        MomentRetrievalInferencer(
            r2.cfg, clip_checkpoint=r2.clip, recipe=dict(weights_hash='0'))
    # features the model cannot read (197 tokens, not 50): its own error
    with pytest.warns(UserWarning, match='random'):
        infer = MomentRetrievalInferencer(
            r2.cfg,
            clip_checkpoint=None,
            recipe=dict(
                model_cfg=dict(
                    TINY_CLIP,
                    vision_cfg=dict(TINY_CLIP['vision_cfg'], patch_size=16))))
    with pytest.raises(ValueError, match='not a multiple of 50x64'):
        infer(r2.video, 'green')


def test_r2_bad_input(r2, r2_infer, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        r2_infer(tmp_path / 'nope.mp4', 'green')
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        r2_infer(tmp_path / 'nope.npy', 'green')
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video at all' * 100)
    with pytest.raises(VideoDecodeError, match='broken.mp4'):
        r2_infer(broken, 'green')
    (tmp_path / 'broken.npy').write_bytes(b'not an array' * 10)
    with pytest.raises(
            ValueError,
            match='cannot read feature file .*broken'), pytest.warns(
                UserWarning, match='no meta.json'):
        r2_infer(tmp_path / 'broken.npy', 'green')
    for query in ('', '   ', [], ['green', ''], [None]):
        with pytest.raises(ValueError, match='query'):
            r2_infer(r2.video, query)
    feats = np.zeros((5, 2 * 50 * 64), np.float32)
    feats[3, 7] = np.nan
    with pytest.raises(ValueError, match=r'NaN or inf at clips \[3\]'):
        r2_infer(feats, 'green')
    with pytest.raises(ValueError, match=r'\[T, \.\.\.\] with T > 0'):
        r2_infer(feats[0], 'green')


def _alone(infer, feats, query, spans, **fields):
    """``predict_candidates`` of each window run alone, by hand."""
    q = torch.from_numpy(infer.encode_queries([query])[0]).flatten(1)
    with torch.no_grad():
        return [
            infer.model.predict_candidates(
                dict(
                    video=[torch.as_tensor(feats[s:e]).flatten(1)], query=[q]),
                [dict(fields, duration=1.0)])[0] for s, e in spans
        ]


def test_r2_long_video_sliding_windows(r2, monkeypatch):
    infer = MomentRetrievalInferencer(
        r2.cfg, r2.ckpt, clip_checkpoint=r2.clip, max_clips=12)
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(30, 2, 50, 64, generator=g).half()
    calls = _count(monkeypatch, infer.model, 'predict_candidates')
    preds = infer(feats, QUERIES[:2])
    # spans (0, 12) (6, 18) (12, 24) (18, 30) x 2 queries, one batch
    spans = sliding_windows(30, 12, 0.5)
    assert len(spans) == 4 and len(calls) == 1
    assert [len(v) for v in calls[0][0]['video']] == [12] * 8
    monkeypatch.undo()
    assert [p['query'] for p in preds] == QUERIES[:2]
    for query, pred in zip(QUERIES[:2], preds):
        _check_r2(pred, 60.0, 30)
        cands = _alone(infer, feats, query, spans, fps=0.5)
        merged = infer.model.merge_candidates(
            gather_candidates(cands, spans, 2.0), 60.0)
        np.testing.assert_allclose(
            pred['pred_relevant_windows'], merged, rtol=0, atol=1e-5)
    # rows of later windows are shifted into video time
    assert max(w[1] for w in preds[0]['pred_relevant_windows']) > 24
    # clips 0-5 come from window 0 alone, clips 6-11 average windows 0, 1
    w0 = infer(feats[:12], QUERIES[0])[0]['pred_saliency_scores']
    w1 = infer(feats[6:18], QUERIES[0])[0]['pred_saliency_scores']
    sal = preds[0]['pred_saliency_scores']
    np.testing.assert_allclose(sal[:6], w0[:6], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        sal[6:12], (np.array(w0[6:]) + np.array(w1[:6])) / 2, atol=1e-6)


# --------------------------------------------------------------- GroundNLQ
def test_groundnlq_recipes_from_config(gnlq, gnlq_infer):
    cfg = Config.fromfile(gnlq.cfg)
    assert gnlq_infer.video_extractor is None  # InternVideo + EgoVLP
    recipe = gnlq_infer.query_extractor.recipe
    assert recipe.text_tokens == cfg.query_recipe.text_tokens
    assert recipe.text_normalizer == cfg.query_recipe.text_normalizer
    assert (recipe.k, recipe.dtype, recipe.fps) == (1, 'float32', None)
    feats = gnlq_infer.encode_queries(NLQ_QUERIES)
    assert [f.shape[1:] for f in feats] == [(32, )] * 3
    # the checkpoint's recipe: the training store's meta.json
    assert gnlq_infer.video_recipe == gnlq.recipe
    assert gnlq_infer.clip_len == pytest.approx(16.043 / 30)
    assert gnlq_infer.max_clips == gnlq_infer.model.max_seq_len == 64


def test_groundnlq_single_window_equals_predict(gnlq, gnlq_infer):
    """The model's test_step on the dataset's samples (its test pipeline
    and time fields), with the queries' CLIP token features."""
    cfg = Config.fromfile(gnlq.cfg)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    q = cfg.query_recipe
    ext = FeatureExtractor(
        FeatureRecipe(
            backbone=q.backbone,
            k=q.k,
            fps=None,
            dtype=q.dtype,
            text_tokens=q.text_tokens,
            text_normalizer=q.text_normalizer),
        checkpoint=gnlq.clip,
        model_cfg=TINY_CLIP)
    assert len(dataset) == 4
    for i in range(len(dataset)):
        packed = dataset[i]
        meta = packed['data_samples'].metainfo
        packed['inputs']['query'] = torch.from_numpy(
            ext.encode_query(meta['query']))
        with torch.no_grad():
            want = gnlq_infer.model.test_step(pseudo_collate([packed]))[0]
        feature_file = gnlq.feats / f"{meta['vid']}.npy"
        got = gnlq_infer(
            feature_file, meta['query'], duration=meta['duration'])[0]
        assert got['vid'] == meta['vid'] and 'pred_saliency_scores' not in got
        assert got['pred_relevant_windows'] == \
            want.pred_relevant_windows.tolist()
        _check_well_formed(got, meta['duration'], 5)
        # the duration of T features at the recipe's clip length
        _same(gnlq_infer(feature_file, meta['query'])[0], got)


def test_groundnlq_batch_equals_one_by_one(gnlq, gnlq_infer):
    """Queries stay in order and apart. (At init the LayerNorm biases are
    zero, so padding a query to the longest of the batch changes nothing;
    with trained weights GroundNLQ's outputs depend on that padding, as in
    the official batched eval -- tests/projects/groundnlq/test_model.py.)"""
    video = gnlq.feats / f'{gnlq.vids[0]}.npy'
    batched = gnlq_infer(video, NLQ_QUERIES)
    assert [p['query'] for p in batched] == NLQ_QUERIES
    for query, pred in zip(NLQ_QUERIES, batched):
        _same(pred, gnlq_infer(video, query)[0], atol=1e-5)
    assert batched[0]['pred_relevant_windows'] != \
        batched[1]['pred_relevant_windows']


def test_groundnlq_feature_files_checked(gnlq, gnlq_infer, tmp_path):
    feats = np.load(gnlq.feats / f'{gnlq.vids[0]}.npy')
    want = gnlq_infer(gnlq.feats / f'{gnlq.vids[0]}.npy', NLQ_QUERIES[0])[0]
    store = _write_store(tmp_path / 'ok', gnlq.recipe, a_npz=feats, b_pt=feats)
    for name in ('a.npz', 'b.pt'):
        _same(
            gnlq_infer(store / name, NLQ_QUERIES[0])[0],
            dict(want, vid=name[0]))
    # features of another rate
    meta = dict(gnlq.recipe, fps=1.0, clip_len=1.0)
    bad = _write_store(tmp_path / 'bad', meta, c_npy=feats)
    with pytest.raises(
            ValueError,
            match=r'feature file .*bad/c\.npy.*'
            r'fps: store has 1\.0'):
        gnlq_infer(bad / 'c.npy', NLQ_QUERIES[0])
    bare = _write_store(tmp_path / 'bare', None, d_npy=feats, e_npy=feats)
    with pytest.warns(UserWarning, match=r'bare has no meta\.json'):
        gnlq_infer(bare / 'd.npy', NLQ_QUERIES[0])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        got = gnlq_infer(bare / 'e.npy', NLQ_QUERIES[0])[0]
    _same(got, dict(want, vid='e'))
    # its video backbones are not shipped: no video file
    with pytest.raises(ValueError, match='cannot be computed here'):
        gnlq_infer(tmp_path / 'clip.mp4', NLQ_QUERIES[0])


def test_groundnlq_long_video_sliding_windows(setups, tmp_path, monkeypatch):
    """Clips longer than max_seq_len = 64 run as windows merged with
    GroundNLQ's NMS."""
    s = setups.write_groundnlq_setup(tmp_path, num_feats=(100, 110), seed=1)
    infer = MomentRetrievalInferencer(s.cfg, s.ckpt, clip_checkpoint=s.clip)
    video = s.feats / f'{s.vids[0]}.npy'
    feats = np.load(video)
    spans = sliding_windows(len(feats), 64, 0.5)
    assert len(spans) == 3
    calls = _count(monkeypatch, infer.model, 'predict_candidates')
    steps = _count(monkeypatch, infer.model, 'test_step')
    preds = infer(video, NLQ_QUERIES[:2])
    assert (len(calls), len(steps)) == (1, 0)  # 2 queries x 3 windows
    assert [len(v) for v in calls[0][0]['video']] == [64] * 6
    monkeypatch.undo()
    duration = len(feats) * infer.clip_len
    time = Config.fromfile(s.cfg).time_cfg
    assert [p['query'] for p in preds] == NLQ_QUERIES[:2]
    for query, pred in zip(NLQ_QUERIES[:2], preds):
        _check_well_formed(pred, duration, 5)
        assert 'pred_saliency_scores' not in pred
        cands = _alone(infer, feats, query, spans, **time)
        gathered = gather_candidates(cands, spans, infer.clip_len)
        assert gathered['windows'][:, 1].max() > 64 * infer.clip_len
        merged = infer.model.merge_candidates(gathered, duration)
        np.testing.assert_allclose(
            pred['pred_relevant_windows'], merged, rtol=0, atol=1e-5)


@pytest.mark.parametrize('method', ['r2', 'gnlq'])
def test_merging_one_window_is_predict(method, r2, r2_infer, gnlq, gnlq_infer):
    """predict_candidates + merge_candidates on one window: the method's
    own post-processing, i.e. what predict gives."""
    if method == 'r2':
        infer, video, fields = r2_infer, r2.video, dict(fps=0.5)
    else:
        infer = gnlq_infer
        video = gnlq.feats / f'{gnlq.vids[1]}.npy'
        fields = dict(Config.fromfile(gnlq.cfg).time_cfg)
    feats, duration = infer.encode_video(video)
    for query in (NLQ_QUERIES if method == 'gnlq' else QUERIES):
        want = infer(video, query)[0]['pred_relevant_windows']
        cands = _alone(infer, feats, query, [(0, len(feats))], **fields)
        merged = infer.model.merge_candidates(
            gather_candidates(cands, [(0, len(feats))], infer.clip_len),
            duration)
        np.testing.assert_allclose(merged, want, rtol=0, atol=1e-5)
