"""MomentRetrievalInferencer on tiny PyAV videos, a random-init tiny CLIP
and a random-init R²-Tuning model with the tiny CLIP's widths."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config

import vtg_r2_tuning  # noqa: F401  (registers R2Tuning)
from vtg_plugins.apis.features import FeatureRecipe
from vtg_plugins.apis.frames import VideoDecodeError
from vtg_plugins.apis.inferencer import (MomentRetrievalInferencer,
                                         merge_windows, resolve_recipe,
                                         sliding_windows)
from vtg_plugins.registry import INFERENCERS
from vtg_plugins.testing import feature_pipeline as H

REPO = Path(__file__).resolve().parents[2]
QVH = REPO / 'configs' / 'r2_tuning' / \
    'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py'
QUERIES = ['a red thing appears', 'green', 'a dog runs on the grass']


def make_setup(root: Path, ckpt_meta=None) -> SimpleNamespace:
    """A 13-s video, tiny CLIP weights, a tiny-R2 config (QVHighlights
    post-processing: unit 2 s, NMS 0.7) and its random checkpoint."""
    return H.write_tiny_r2_setup(root, 13, ckpt_meta, random_gates=True)


@pytest.fixture
def setup(tmp_path):
    return make_setup(tmp_path)


@pytest.fixture
def inferencer(setup):
    return MomentRetrievalInferencer(
        str(setup.cfg), str(setup.ckpt), clip_checkpoint=setup.clip)


def _count(monkeypatch, obj, name):
    calls = []
    fn = getattr(obj, name)

    def wrapped(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapped)
    return calls


def _check_well_formed(pred, duration, num_clips, unit=2.0):
    assert pred['duration'] == pytest.approx(duration)
    assert len(pred['pred_saliency_scores']) == num_clips
    win = np.asarray(pred['pred_relevant_windows'])
    assert win.ndim == 2 and win.shape[1] == 3 and 0 < len(win) <= 50
    assert (win[:, 0] >= 0).all() and (win[:, 1] <= duration).all()
    assert (win[:, 0] <= win[:, 1]).all()
    assert (np.diff(win[:, 2]) <= 0).all()  # best first
    inside = win[win[:, 1] < duration, :2]  # rounded to the 2-s unit
    np.testing.assert_allclose(inside, np.round(inside / unit) * unit)


def test_video_file_encoded_once(setup, inferencer, monkeypatch):
    # the checkpoint was loaded (the random init would differ)
    for key, value in inferencer.model.state_dict().items():
        torch.testing.assert_close(value, setup.state[key], rtol=0, atol=0)
    assert INFERENCERS.get('MomentRetrievalInferencer') is \
        MomentRetrievalInferencer
    ext = inferencer.extractor
    decode = _count(monkeypatch, ext, 'read_frames')
    frames = _count(monkeypatch, ext, 'encode_frames')
    texts = _count(monkeypatch, ext, 'encode_queries')
    forward = _count(monkeypatch, inferencer.model, 'predict')
    preds = inferencer(video=str(setup.video), query=QUERIES)
    assert (len(decode), len(frames), len(texts), len(forward)) == (1, 1, 1, 1)
    assert len(texts[0][0]) == 3 and len(forward[0][0]['video']) == 3
    assert [p['query'] for p in preds] == QUERIES
    # 13 s at 0.5 fps: round(6.5) = 7 clips; the container says 13 s
    for p in preds:
        assert p['vid'] == 'v'
        _check_well_formed(p, 13.0, 7)
    assert preds[0]['pred_saliency_scores'] != \
        preds[1]['pred_saliency_scores']


def test_batch_equals_one_by_one(setup, inferencer):
    batched = inferencer(setup.video, QUERIES)
    for query, pred in zip(QUERIES, batched):
        alone = inferencer(setup.video, query)[0]
        np.testing.assert_allclose(
            pred['pred_saliency_scores'],
            alone['pred_saliency_scores'],
            rtol=0,
            atol=1e-5)
        np.testing.assert_allclose(
            pred['pred_relevant_windows'],
            alone['pred_relevant_windows'],
            rtol=0,
            atol=1e-4)


def test_precomputed_features(setup, inferencer):
    from_file = inferencer(setup.video, QUERIES[:2])
    feats = inferencer.extractor.encode_video(setup.video)  # [T, k, P, C]
    assert feats.shape == (7, 2, 50, 64)
    for video in (feats, feats.reshape(7, -1), torch.from_numpy(feats)):
        preds = inferencer(video, QUERIES[:2], duration=13.0)
        for a, b in zip(preds, from_file):
            assert 'vid' not in a
            assert a['pred_saliency_scores'] == b['pred_saliency_scores']
            assert a['pred_relevant_windows'] == b['pred_relevant_windows']
    # no duration given: T * clip_len = 14 s
    _check_well_formed(inferencer(feats, 'green')[0], 14.0, 7)


def test_recipe_precedence(tmp_path):
    cfg = Config(
        dict(
            model=dict(arch='ViT-B/16', k=4),
            test_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    dataset=dict(
                        ann_kwargs=dict(clip_len=1.0),
                        recipe=dict(dtype='float32', layers=[1]))))))
    # derived from the model and dataset, then the dataset recipe
    assert resolve_recipe(cfg) == dict(
        backbone='ViT-B/16', k=4, fps=1.0, dtype='float32', layers=[1])
    # top-level recipe replaces the dataset one; checkpoint meta and the
    # argument override key by key, in that order
    cfg.recipe = dict(dtype='float16', crop=336)
    meta = dict(feature_recipe=dict(fps=0.5, crop=224))
    assert resolve_recipe(cfg, meta, dict(fps=2.0)) == dict(
        backbone='ViT-B/16', k=4, fps=2.0, dtype='float16', crop=224)
    assert resolve_recipe(cfg, dict(feature_recipe=dict(k=2)))['k'] == 2
    assert resolve_recipe(cfg, recipe=FeatureRecipe(k=1))['crop'] == 224
    cfg.model.arch = dict(H.TINY_R2_ARCH)
    with pytest.raises(ValueError, match='cannot tell the CLIP backbone'):
        resolve_recipe(cfg)


def test_checkpoint_meta_recipe(tmp_path):
    """A recipe stored in the checkpoint beats the config's: 1 fps gives
    13 one-second clips."""
    s = make_setup(tmp_path, dict(feature_recipe=dict(fps=1.0)))
    infer = MomentRetrievalInferencer(s.cfg, s.ckpt, clip_checkpoint=s.clip)
    assert infer.recipe.fps == 1.0
    _check_well_formed(infer(s.video, 'green')[0], 13.0, 13)


def test_recipe_mismatch_refused(setup):
    # the official QVHighlights layers do not exist in a 3-block CLIP
    with pytest.raises(ValueError, match=r'layers: store has \[2, 3\]'):
        MomentRetrievalInferencer(
            setup.cfg,
            clip_checkpoint=setup.clip,
            recipe=dict(layers=[9, 10, 11, 12]))
    with pytest.raises(ValueError, match='clip.pt has hash'):
        MomentRetrievalInferencer(
            setup.cfg,
            clip_checkpoint=setup.clip,
            recipe=dict(weights_hash='0' * 64))
    # model widths that do not fit the features
    with pytest.raises(
            ValueError, match='num_tokens: model 50, features '
            '197'), pytest.warns(
                UserWarning, match='random'):
        MomentRetrievalInferencer(
            setup.cfg,
            clip_checkpoint=None,
            recipe=dict(
                model_cfg=dict(
                    H.TINY_CLIP,
                    vision_cfg=dict(H.TINY_CLIP['vision_cfg'],
                                    patch_size=16))))


def test_bad_input(setup, inferencer, tmp_path):
    missing = tmp_path / 'nope.mp4'
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        inferencer(missing, 'green')
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video at all' * 100)
    with pytest.raises(VideoDecodeError, match='broken.mp4'):
        inferencer(broken, 'green')
    for query in ('', '   ', [], ['green', ''], [None]):
        with pytest.raises(ValueError, match='query'):
            inferencer(setup.video, query)
    feats = np.zeros((5, 2 * 50 * 64), np.float32)
    feats[3, 7] = np.nan
    with pytest.raises(ValueError, match=r'NaN or inf at clips \[3\]'):
        inferencer(feats, 'green')
    with pytest.raises(ValueError, match=r'\[T, k, P, C\]'):
        inferencer(feats[0], 'green')


def test_sliding_windows_spans():
    assert sliding_windows(10, None, 0.5) == [(0, 10)]
    assert sliding_windows(10, 10, 0.5) == [(0, 10)]
    assert sliding_windows(10, 4, 0.5) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert sliding_windows(11, 4, 0.5) == [(0, 4), (2, 6), (4, 8), (6, 10),
                                           (7, 11)]
    assert sliding_windows(9, 4, 0.) == [(0, 4), (4, 8), (5, 9)]
    with pytest.raises(ValueError, match='overlap'):
        sliding_windows(9, 4, 1.0)


def test_merge_windows_by_hand():
    raws = [
        dict(
            saliency=torch.tensor([1., 1., 1., 1.]),
            boundary=torch.tensor([[0., 4., .9]])),
        dict(
            saliency=torch.tensor([3., 3., 3., 3.]),
            boundary=torch.tensor([[0., 4., .8], [-4., 0., .7]])),
    ]
    # window 1 starts at clip 2 = 4 s: its rows move to [4, 8] and [0, 4]
    cfg = dict(unit=None, nms_cfg=dict(type='normal', thres=0.7))
    out = merge_windows(raws, [(0, 4), (2, 6)], 2.0, 12.0, 50, cfg)
    assert out['pred_saliency_scores'] == [1., 1., 2., 2., 3., 3.]
    # [0, 4, .7] duplicates the best row (IoU 1): NMS zeroes it
    np.testing.assert_allclose(out['pred_relevant_windows'],
                               [[0, 4, .9], [4, 8, .8], [0, 4, 0]])
    # the top 2 candidates only; the duration clamps
    out = merge_windows(raws, [(0, 4), (2, 6)], 2.0, 7.0, 2, cfg)
    np.testing.assert_allclose(out['pred_relevant_windows'],
                               [[0, 4, .9], [4, 7, .8]])
    # highlight-only raws (no boundary head): saliency only
    out = merge_windows([dict(saliency=r['saliency']) for r in raws], [(0, 4),
                                                                       (2, 6)],
                        2.0, 12.0, 50, cfg)
    assert set(out) == {'pred_saliency_scores'}


def test_long_video_sliding_windows(setup, monkeypatch):
    infer = MomentRetrievalInferencer(
        setup.cfg, setup.ckpt, clip_checkpoint=setup.clip, max_clips=12)
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(30, 2, 50, 64, generator=g).half()
    raw = _count(monkeypatch, infer.model, 'predict_raw')
    preds = infer(feats, QUERIES[:2])
    # spans (0, 12) (6, 18) (12, 24) (18, 30) x 2 queries, one batch
    assert len(raw) == 1
    assert [len(v) for v in raw[0][0]['video']] == [12] * 8
    for p in preds:
        _check_well_formed(p, 60.0, 30)
    # clips 0-5 come from window 0 alone, clips 6-11 average windows 0, 1
    w0 = infer(feats[:12], QUERIES[0])[0]['pred_saliency_scores']
    w1 = infer(feats[6:18], QUERIES[0])[0]['pred_saliency_scores']
    sal = preds[0]['pred_saliency_scores']
    np.testing.assert_allclose(sal[:6], w0[:6], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        sal[6:12], (np.array(w0[6:]) + np.array(w1[:6])) / 2, atol=1e-6)
    # rows of later windows are shifted into video time
    assert max(w[1] for w in preds[0]['pred_relevant_windows']) > 24
