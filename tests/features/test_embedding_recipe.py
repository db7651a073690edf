"""CLIP's projected image and text embeddings as a feature recipe
(``frame_features='image_embedding'``, ``text_tokens=
'eot_ln_final_projected'``), checked against open_clip's own
``encode_image`` / ``encode_text``."""
import numpy as np
import open_clip
import pytest
import torch

from vtg_plugins.features.clip import CLIPEncoder
from vtg_plugins.features.extractor import (FeatureExtractor, FeatureRecipe,
                                            build_extractor_from_meta)
from vtg_plugins.features.frames import read_video
from vtg_plugins.features.recipe import check_recipe, query_store_recipe
from vtg_plugins.features.store_writing import default_store_name

EMBEDDINGS = dict(
    k=1,
    frame_features='image_embedding',
    text_tokens='eot_ln_final_projected')
QUERIES = ['a dog', 'a red car drives by the house']


@pytest.fixture
def clip_model(tmp_path, helpers):
    return helpers.save_tiny_checkpoint(tmp_path / 'clip.pt', seed=2)


@pytest.fixture
def extractor(tmp_path, helpers, clip_model):
    return FeatureExtractor(
        FeatureRecipe('ViT-B/32', fps=1.0, dtype='float32', **EMBEDDINGS),
        checkpoint=tmp_path / 'clip.pt',
        model_cfg=helpers.TINY_CLIP,
        frame_batch=2)


def test_image_embeddings_are_open_clips(tmp_path, helpers, clip_model):
    encoder = CLIPEncoder(
        'ViT-B/32',
        k=1,
        checkpoint=str(tmp_path / 'clip.pt'),
        model_cfg=helpers.TINY_CLIP,
        text_tokens='eot_ln_final_projected')
    images = helpers.normalize(
        torch.randint(0, 256, (3, 3, 224, 224), dtype=torch.uint8))
    out = encoder.encode_image_embeddings(images)
    assert out.shape == (3, 32) == (3, encoder.embed_dim)
    with torch.no_grad():
        ref = clip_model.encode_image(images)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError, match=r'expects frames \[N, 3, 224, 224\]'):
        encoder.encode_image_embeddings(torch.zeros(1, 3, 112, 112))


def test_video_and_query_embeddings_of_a_recipe(tmp_path, helpers, clip_model,
                                                extractor):
    helpers.write_video(tmp_path / 'v.mp4', 3, 10)
    feats = extractor.encode_video(tmp_path / 'v.mp4')
    assert feats.dtype == np.float32 and feats.shape == (3, 32)
    frames = read_video(tmp_path / 'v.mp4', 1.0, 224)
    with torch.no_grad():
        ref_video = clip_model.encode_image(helpers.normalize(frames))
        ref_text = clip_model.encode_text(open_clip.tokenize(QUERIES))
    np.testing.assert_allclose(feats, ref_video.numpy(), rtol=1e-5, atol=1e-5)
    queries = extractor.encode_queries(QUERIES, ids=['q1', 'q2'], batch_size=1)
    assert [q.shape for q in queries] == [(1, 32), (1, 32)]
    np.testing.assert_allclose(
        np.concatenate(queries), ref_text.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="'long-one'"):
        extractor.encode_query('x ' * 100, qid='long-one')


def test_recipe_metadata_and_checks(tmp_path, helpers, extractor):
    video, query = extractor.meta('video'), extractor.meta('query')
    assert (video['frame_features'], video['layout'],
            video['layers']) == ('image_embedding', '[T, E]', [3])
    assert (query['text_tokens'], query['layout'],
            query['layers']) == ('eot_ln_final_projected', '[1, E]', [3])
    assert 'frame_features' not in query
    # the inference path: a store's meta.json rebuilds the same extractor
    again = build_extractor_from_meta(video, checkpoint=tmp_path / 'clip.pt')
    assert again.recipe.frame_features == 'image_embedding'
    frames = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8)
    np.testing.assert_array_equal(
        again.encode_frames(frames), extractor.encode_frames(frames))
    # a store of block tokens is refused where embeddings are expected
    tokens = FeatureExtractor(
        FeatureRecipe('ViT-B/32', k=1), model_cfg=helpers.TINY_CLIP)
    token_meta = tokens.meta('video')
    assert (token_meta['frame_features'],
            token_meta['layout']) == ('last_k_tokens', '[T, k, P, C]')
    with pytest.raises(
            ValueError,
            match="frame_features: store has "
            "'last_k_tokens', expected 'image_embedding'"):
        check_recipe(token_meta, {'frame_features': 'image_embedding'})
    # frame_features says nothing about the query store
    assert 'frame_features' not in query_store_recipe(
        dict(backbone='ViT-B/32', frame_features='image_embedding'),
        dict(text_tokens='eot_ln_final_projected'))


def test_store_names_say_embedding(extractor):
    recipe = extractor.recipe
    assert default_store_name(recipe, 'video') == \
        'clip_b32_vid_k1_image_embedding'
    assert default_store_name(recipe, 'query') == \
        'clip_b32_txt_k1_eot_ln_final_projected'
    assert default_store_name(FeatureRecipe(), 'video') == 'clip_b32_vid_k4'


def test_bad_embedding_recipes_are_refused():
    with pytest.raises(ValueError, match="unknown frame_features 'cls'"):
        FeatureRecipe(frame_features='cls')
    with pytest.raises(
            ValueError, match='from the last visual block: k '
            'must be 1, got 4'):
        FeatureRecipe(frame_features='image_embedding')
    with pytest.raises(
            ValueError,
            match="'eot_ln_final_projected' takes "
            'the last text block only: k must be 1, got 2'):
        FeatureRecipe(k=2, text_tokens='eot_ln_final_projected')
