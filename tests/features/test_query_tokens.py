"""Query-token recipes (QUERY_TOKEN_RECIPES) on a random-init tiny CLIP:
``'between_sot_eot_ln_final_max30'`` against CONE's
``ClipFeatureExtractor.encode_text`` (houzhijian/CONE
``feature_extraction/ego4d_clip_token_extractor.py``) written out on the same
model, and a recipe registered from outside the shared layer."""
from typing import List

import numpy as np
import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer

from vtg_plugins.features.clip import CLIPEncoder
from vtg_plugins.features.extractor import FeatureExtractor, FeatureRecipe
from vtg_plugins.features.query_tokens import (QueryTokenRecipe,
                                               build_query_token_recipe)
from vtg_plugins.features.text_normalizers import canonical_question
from vtg_plugins.registry import QUERY_TOKEN_RECIPES
from vtg_plugins.testing.feature_pipeline import TINY_CLIP

TOK = SimpleTokenizer()
LN_FINAL = 'between_sot_eot_ln_final_max30'


@pytest.fixture(scope='module')
def ln_final():
    """The recipe with the canonical-question normalizer, queries only."""
    torch.manual_seed(0)
    return FeatureExtractor(
        FeatureRecipe(
            k=1,
            fps=None,
            dtype='float32',
            text_tokens=LN_FINAL,
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


def test_ln_final_tokens_match_official(ln_final):
    model = ln_final.encoder.clip
    raw = 'Where is my PHONE? '
    feat = ln_final.encode_query(raw, qid='q0')
    # 'where is my phone?' -> where, is, my, phone, ? : 5 tokens, 32-d
    assert feat.shape == (5, 32) and feat.dtype == np.float32
    ref = official_hidden(model, 'where is my phone?')
    np.testing.assert_allclose(feat, ref[1:6].numpy(), rtol=1e-5, atol=1e-5)
    # the normalizer runs first: the canonical form gives the same array
    np.testing.assert_array_equal(
        ln_final.encode_query('where is my phone?'), feat)
    # ln_final is applied: each token is normalised (mean 0 before affine)
    ln = model.ln_final
    x = (torch.from_numpy(feat) - ln.bias) / ln.weight
    assert torch.allclose(x.mean(-1), torch.zeros(5), atol=1e-4)


def test_ln_final_cuts_at_30_bpe_tokens(ln_final):
    words = ' '.join(f'w{i}' for i in range(40))  # 2 BPE pieces per word
    text = canonical_question(words)
    assert len(TOK.encode(text)) > 30
    feat = ln_final.encode_query(words)
    assert feat.shape == (30, 32)
    # causal attention: the first 30 tokens are those of the uncut query
    ref = official_hidden(ln_final.encoder.clip, text)[1:31]
    np.testing.assert_allclose(feat, ref.numpy(), rtol=1e-5, atol=1e-5)
    assert ln_final.encoder.num_cut([text, 'short?']) == 1


def test_official_nonzero_count_slice(ln_final):
    """Token id 0 is the BPE piece '!': the official ``valid_len`` counts
    non-zero ids, so 'x !#?' (x, '!', '#', '?') keeps 3 tokens, not 4."""
    text = 'x !#?'
    assert TOK.encode(text) == [343, 0, 2, 286]
    feat = ln_final.encode_query(text)
    assert feat.shape == (3, 32)
    ref = official_hidden(ln_final.encoder.clip, text)
    np.testing.assert_allclose(feat, ref[1:4].numpy(), rtol=1e-5, atol=1e-5)


def test_batches_and_padding_do_not_change_features(ln_final):
    queries = ['Where is the knife?', 'what did i put in the sink', 'keys']
    one = [ln_final.encode_query(q) for q in queries]
    many = ln_final.encode_queries(queries, batch_size=2)
    assert [f.shape[0] for f in many] == [5, 8, 2]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ln_final_recipe_meta_and_errors(ln_final):
    meta = ln_final.meta('query')
    assert meta['text_tokens'] == LN_FINAL
    assert meta['text_normalizer'] == 'canonical_question'
    assert (meta['layout'], meta['layers'], meta['k']) == ('[L, C]', [3], 1)
    assert meta['dtype'] == 'float32'
    # a recipe without fps records no frame rules (queries only)
    assert not {'fps', 'clip_len', 'crop', 'sampling', 'resize'} & set(meta)
    assert FeatureRecipe.from_meta(meta) == ln_final.recipe
    with pytest.raises(ValueError, match='no fps'):
        ln_final.meta('video')
    with pytest.raises(ValueError, match='no fps'):
        ln_final.read_frames('any.mp4')
    # the default recipe records its name and layout too
    last_k = FeatureExtractor(FeatureRecipe(k=2), model_cfg=TINY_CLIP)
    assert last_k.meta('query')['text_tokens'] == 'sot_eot_last_k'
    assert last_k.meta('query')['layout'] == '[L, k, C]'
    assert last_k.meta('query')['text_normalizer'] is None
    assert last_k.meta('query')['clip_len'] == 2.0
    assert 'text_tokens' not in last_k.meta('video')
    assert FeatureRecipe.from_meta(last_k.meta('query')) == last_k.recipe
    with pytest.raises(ValueError, match=f"'{LN_FINAL}'.*k must be 1, got 2"):
        FeatureRecipe(k=2, text_tokens=LN_FINAL)
    with pytest.raises(ValueError, match='k must be 1, got 3'):
        CLIPEncoder(k=3, model_cfg=TINY_CLIP, text_tokens=LN_FINAL)
    with pytest.raises(
            ValueError,
            match="unknown query-token recipe text_tokens='cls'.*"
            f"'{LN_FINAL}', 'eot_ln_final_projected', 'sot_eot_last_k'"):
        CLIPEncoder(k=1, model_cfg=TINY_CLIP, text_tokens='cls')
    with pytest.raises(ValueError, match='unknown query-token recipe'):
        FeatureRecipe(text_tokens='cls')
    # without a normalizer an empty query has no token: named error
    bare = FeatureExtractor(
        FeatureRecipe(k=1, text_tokens=LN_FINAL), model_cfg=TINY_CLIP)
    with pytest.raises(ValueError, match="'q-empty'"):
        bare.encode_queries(['ok', ''], ids=['q-ok', 'q-empty'])


def test_registered_recipes():
    assert {'sot_eot_last_k', LN_FINAL} <= set(QUERY_TOKEN_RECIPES.module_dict)
    last_k = build_query_token_recipe('sot_eot_last_k')
    assert (last_k.name, last_k.layout, last_k.ln_final,
            last_k.max_bpe) == ('sot_eot_last_k', '[L, k, C]', False, None)
    last_k.check_k(4)  # any k
    between = build_query_token_recipe(LN_FINAL)
    assert (between.layout, between.ln_final, between.max_bpe) == ('[L, C]',
                                                                   True, 30)
    # the R²-Tuning cache ignores no query: nothing is cut silently
    long = ' '.join(f'w{i}' for i in range(40))
    assert last_k.num_cut(TOK, [long]) == 0
    assert between.num_cut(TOK, [long, 'short']) == 1


class EotOfLastBlock(QueryTokenRecipe):
    """A recipe from outside the shared layer: the EOT token of the last
    block after ln_final, ``[1, C]``."""
    layout = '[1, C]'
    ln_final = True

    def tokenize(self, tokenizer, texts: List[str], ids: List[str],
                 truncate: bool) -> torch.Tensor:
        return tokenizer(texts)

    def select(self, intermediates, tokens):
        eot = tokens.argmax(dim=-1)
        return [
            f[i:i + 1] for f, i in zip(intermediates[-1].float(), eot.tolist())
        ]


def test_a_project_registers_its_own_recipe():
    QUERY_TOKEN_RECIPES.register_module(
        name='_test_eot_of_last_block', module=EotOfLastBlock)
    try:
        torch.manual_seed(0)
        ext = FeatureExtractor(
            FeatureRecipe(k=1, text_tokens='_test_eot_of_last_block'),
            model_cfg=TINY_CLIP)
        feat = ext.encode_query('a cup')
        # SOT, a, cup, EOT: the EOT row of CONE-style last_hidden_state
        ref = official_hidden(ext.encoder.clip, 'a cup')[3:4]
        assert feat.shape == (1, 32)
        np.testing.assert_allclose(
            feat.astype(np.float32), ref.numpy(), rtol=2e-3, atol=2e-3)
        meta = ext.meta('query')
        assert (meta['text_tokens'],
                meta['layout']) == ('_test_eot_of_last_block', '[1, C]')
    finally:
        QUERY_TOKEN_RECIPES.module_dict.pop('_test_eot_of_last_block')
