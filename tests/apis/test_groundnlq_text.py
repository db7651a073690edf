"""GroundNLQ's query recipe (``text_tokens='groundnlq'``) and the query
normalizers, on a random-init tiny CLIP, against CONE's
``ClipFeatureExtractor.encode_text`` written out on the same model."""
import numpy as np
import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer

from vtg_plugins.apis.features import FeatureExtractor, FeatureRecipe
from vtg_plugins.datasets.text_normalizers import (TEXT_NORMALIZERS,
                                                   build_text_normalizer,
                                                   canonical_question)
from vtg_plugins.models.clip_encoder import CLIPEncoder

TOK = SimpleTokenizer()


@pytest.fixture(scope='module')
def gnlq():
    from vtg_plugins.testing.feature_pipeline import TINY_CLIP
    torch.manual_seed(0)
    return FeatureExtractor(
        FeatureRecipe(
            k=1,
            fps=None,
            dtype='float32',
            text_tokens='groundnlq',
            text_normalizer='canonical_question'),
        model_cfg=TINY_CLIP)


@torch.no_grad()
def official_hidden(model, text: str) -> torch.Tensor:
    """CONE ``encode_text``'s ``last_hidden_state`` [77, C] of the standard
    (uncut) tokenization: embeddings, every block (causal), ln_final."""
    tokens = TOK([text])
    x = model.token_embedding(tokens) + model.positional_embedding
    for blk in model.transformer.resblocks:
        x = blk(x, attn_mask=model.attn_mask)
    return model.ln_final(x)[0]


@pytest.mark.parametrize(
    'raw,canonical',
    [
        ('Where is my phone? ', 'where is my phone?'),
        ('What did I cut.', 'what did i cut?'),
        # one pass, in the official order: a space before the final '?'
        # survives ('?' is stripped after ' '), as does '.' before ' ?'
        ('where did i put the cup ?', 'where did i put the cup ?'),
        ('Where. ?', 'where. ?'),
        (' how many?? ', 'how many?'),
    ])
def test_canonical_question(raw, canonical):
    assert canonical_question(raw) == canonical
    # the project's reproduction of the official rule agrees
    from vtg_groundnlq.datasets import normalize_nlq_query
    assert normalize_nlq_query(raw) == canonical


def test_normalizer_registry():
    assert build_text_normalizer('canonical_question') is canonical_question
    assert build_text_normalizer(None) is None
    with pytest.raises(ValueError, match="'shout'.*canonical_question"):
        build_text_normalizer('shout')
    with pytest.raises(ValueError, match='unknown text normalizer'):
        FeatureRecipe(text_normalizer='shout')

    @TEXT_NORMALIZERS.register_module(name='_test_upper')
    def upper(q):
        return q.upper()

    try:
        ext = FeatureExtractor(
            FeatureRecipe(k=1, text_normalizer='_test_upper'),
            model_cfg=_tiny())
        assert ext.normalize_queries(['a b']) == ['A B']
    finally:
        TEXT_NORMALIZERS.module_dict.pop('_test_upper')


def _tiny():
    from vtg_plugins.testing.feature_pipeline import TINY_CLIP
    return TINY_CLIP


def test_groundnlq_tokens_match_official(gnlq):
    model = gnlq.encoder.clip
    raw = 'Where is my PHONE? '
    feat = gnlq.encode_query(raw, qid='q0')
    # 'where is my phone?' -> where, is, my, phone, ? : 5 tokens, 32-d
    assert feat.shape == (5, 32) and feat.dtype == np.float32
    ref = official_hidden(model, 'where is my phone?')
    np.testing.assert_allclose(feat, ref[1:6].numpy(), rtol=1e-5, atol=1e-5)
    # the normalizer runs first: the canonical form gives the same array
    np.testing.assert_array_equal(
        gnlq.encode_query('where is my phone?'), feat)
    # ln_final is applied: each token is normalised (mean 0 before affine)
    ln = model.ln_final
    x = (torch.from_numpy(feat) - ln.bias) / ln.weight
    assert torch.allclose(x.mean(-1), torch.zeros(5), atol=1e-4)


def test_groundnlq_cuts_at_30_bpe_tokens(gnlq):
    words = ' '.join(f'w{i}' for i in range(40))  # 2 BPE pieces per word
    text = canonical_question(words)
    assert len(TOK.encode(text)) > 30
    feat = gnlq.encode_query(words)
    assert feat.shape == (30, 32)
    # causal attention: the first 30 tokens are those of the uncut query
    ref = official_hidden(gnlq.encoder.clip, text)[1:31]
    np.testing.assert_allclose(feat, ref.numpy(), rtol=1e-5, atol=1e-5)
    assert gnlq.encoder.num_cut([text, 'short?']) == 1


def test_official_nonzero_count_slice(gnlq):
    """Token id 0 is the BPE piece '!': the official ``valid_len`` counts
    non-zero ids, so 'x !#?' (x, '!', '#', '?') keeps 3 tokens, not 4."""
    text = 'x !#?'
    assert TOK.encode(text) == [343, 0, 2, 286]
    feat = gnlq.encode_query(text)
    assert feat.shape == (3, 32)
    ref = official_hidden(gnlq.encoder.clip, text)
    np.testing.assert_allclose(feat, ref[1:4].numpy(), rtol=1e-5, atol=1e-5)


def test_batches_and_padding_do_not_change_features(gnlq):
    queries = ['Where is the knife?', 'what did i put in the sink', 'keys']
    one = [gnlq.encode_query(q) for q in queries]
    many = gnlq.encode_queries(queries, batch_size=2)
    assert [f.shape[0] for f in many] == [5, 8, 2]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_groundnlq_recipe_meta_and_errors(gnlq):
    meta = gnlq.meta('query')
    assert meta['text_tokens'] == 'groundnlq'
    assert meta['text_normalizer'] == 'canonical_question'
    assert (meta['layout'], meta['layers'], meta['k']) == ('[L, C]', [3], 1)
    assert meta['dtype'] == 'float32'
    # a recipe without fps records no frame rules (queries only)
    assert not {'fps', 'clip_len', 'crop', 'sampling', 'resize'} & set(meta)
    assert FeatureRecipe.from_meta(meta) == gnlq.recipe
    with pytest.raises(ValueError, match='no fps'):
        gnlq.meta('video')
    with pytest.raises(ValueError, match='no fps'):
        gnlq.read_frames('any.mp4')
    # the R²-Tuning default records its style too
    r2 = FeatureExtractor(FeatureRecipe(k=2), model_cfg=_tiny())
    assert r2.meta('query')['text_tokens'] == 'sot_eot_last_k'
    assert r2.meta('query')['text_normalizer'] is None
    assert r2.meta('query')['clip_len'] == 2.0
    assert 'text_tokens' not in r2.meta('video')
    assert FeatureRecipe.from_meta(r2.meta('query')) == r2.recipe
    with pytest.raises(ValueError, match='k must be 1, got 2'):
        FeatureRecipe(k=2, text_tokens='groundnlq')
    with pytest.raises(ValueError, match='text_tokens must be one of'):
        CLIPEncoder(k=1, model_cfg=_tiny(), text_tokens='cls')
    # without a normalizer an empty query has no token: named error
    bare = FeatureExtractor(
        FeatureRecipe(k=1, text_tokens='groundnlq'), model_cfg=_tiny())
    with pytest.raises(ValueError, match="'q-empty'"):
        bare.encode_queries(['ok', ''], ids=['q-ok', 'q-empty'])
