"""Feature recipes and the extractor (vtg_plugins.features.extractor)."""
import hashlib

import numpy as np
import pytest
import torch

from vtg_plugins.features.extractor import (FeatureExtractor, FeatureRecipe,
                                       build_extractor_from_meta)
from vtg_plugins.features.frames import read_video
from vtg_plugins.features import RECIPE_KEYS


@pytest.fixture
def extractor(tmp_path, helpers):
    helpers.save_tiny_checkpoint(tmp_path / 'clip.pt')
    return FeatureExtractor(
        FeatureRecipe('ViT-B/32', k=2, fps=1.0),
        checkpoint=tmp_path / 'clip.pt',
        model_cfg=helpers.TINY_CLIP,
        frame_batch=2)


def test_video_features(tmp_path, helpers, extractor):
    helpers.write_video(tmp_path / 'v.mp4', 3, 10)
    feats = extractor.encode_video(tmp_path / 'v.mp4')
    assert feats.dtype == np.float16 and feats.shape == (3, 2, 50, 64)
    frames = read_video(tmp_path / 'v.mp4', 1.0, 224)
    # frame_batch=2 splits the 3 frames; same as one direct forward
    ref = helpers.reference_video_features(
        extractor.encoder.clip, helpers.normalize(frames), k=2)
    np.testing.assert_allclose(
        feats.astype(np.float32),
        ref.numpy().astype(np.float16),
        rtol=2e-3,
        atol=2e-3)
    # the per-second content changes the features of every clip
    assert not np.allclose(feats[0], feats[1])
    with pytest.raises(ValueError, match='uint8'):
        extractor.encode_frames(frames.float())


def test_query_features(extractor, helpers):
    feats = extractor.encode_queries(['a dog', 'a red car drives by'],
                                     ids=['q1', 'q2'],
                                     batch_size=1)
    assert [f.shape for f in feats] == [(4, 2, 32), (7, 2, 32)]
    assert all(f.dtype == np.float16 for f in feats)
    tokens = extractor.encoder.tokenize(['a dog'])
    ref = helpers.reference_text_features(extractor.encoder.clip, tokens, 2)
    np.testing.assert_allclose(
        feats[0].astype(np.float32),
        ref[0, :4].numpy().astype(np.float16),
        rtol=2e-3,
        atol=2e-3)
    np.testing.assert_array_equal(extractor.encode_query('a dog'), feats[0])
    with pytest.raises(ValueError, match="'long-one'"):
        extractor.encode_query('x ' * 100, qid='long-one')


def test_recipe_metadata(tmp_path, extractor):
    digest = hashlib.sha256((tmp_path / 'clip.pt').read_bytes()).hexdigest()
    video, query = extractor.meta('video'), extractor.meta('query')
    for meta in (video, query):
        assert set(RECIPE_KEYS) <= set(meta)
        assert meta['backbone'] == 'ViT-B/32'
        assert meta['weights_hash'] == digest
        assert (meta['fps'], meta['clip_len'], meta['crop']) == (1.0, 1.0, 224)
        assert meta['dtype'] == 'float16' and meta['k'] == 2
    assert video['layers'] == [2, 3] and video['layout'] == '[T, k, P, C]'
    assert query['layers'] == [2, 3] and query['layout'] == '[L, k, C]'
    assert video['model_cfg']['vision_cfg']['width'] == 64
    with pytest.raises(ValueError, match="modality must be 'video'"):
        extractor.meta('audio')


def test_extractor_from_store_meta(tmp_path, helpers, extractor):
    """The inference path: a store's meta.json rebuilds the same extractor;
    other weights are refused."""
    again = build_extractor_from_meta(
        extractor.meta('video'), checkpoint=tmp_path / 'clip.pt')
    assert again.recipe == extractor.recipe
    frames = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8)
    np.testing.assert_array_equal(
        again.encode_frames(frames), extractor.encode_frames(frames))
    helpers.save_tiny_checkpoint(tmp_path / 'other.pt', seed=1)
    with pytest.raises(ValueError, match='other.pt has hash'):
        build_extractor_from_meta(
            extractor.meta('video'), checkpoint=tmp_path / 'other.pt')


def test_recipe_validation(helpers):
    assert FeatureRecipe(backbone='ViT-L/14-336').backbone == 'ViT-L/14-336px'
    assert FeatureRecipe(fps=0.5).clip_len == 2.0
    with pytest.raises(ValueError, match='fps must be positive'):
        FeatureRecipe(fps=0)
    with pytest.raises(TypeError):
        FeatureRecipe(dtype='float17')
    with pytest.raises(
            ValueError, match='takes 224 px images but the recipe '
            'crops 336'):
        FeatureExtractor(
            FeatureRecipe(k=2, crop=336), model_cfg=helpers.TINY_CLIP)
    meta = FeatureExtractor(
        FeatureRecipe(k=1), model_cfg=helpers.TINY_CLIP).meta('query')
    assert meta['weights_hash'] == 'random-init'


def test_recipe_from_meta_takes_the_rate_from_clip_len():
    """A config recipe may state its rate as ``clip_len`` only (R²-Tuning's
    Charades-STA: 1-s clips); the extractor must then run at 1 fps, not at
    the 0.5-fps default."""
    from vtg_plugins.features.recipe import FeatureRecipe
    assert FeatureRecipe.from_meta(dict(clip_len=1.0)).fps == 1.0
    assert FeatureRecipe.from_meta(dict(clip_len=2.0, fps=0.5)).fps == 0.5
    assert FeatureRecipe.from_meta(
        dict(text_tokens='sot_eot_last_k', clip_len=2.0)).fps \
        is None
