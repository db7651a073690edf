"""Query text normalizers of feature recipes (TEXT_NORMALIZERS)."""
import pytest

from vtg_plugins.features.extractor import FeatureExtractor, FeatureRecipe
from vtg_plugins.features.text_normalizers import (TEXT_NORMALIZERS,
                                                   build_text_normalizer,
                                                   canonical_question)
from vtg_plugins.testing.feature_pipeline import TINY_CLIP


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
            model_cfg=TINY_CLIP)
        assert ext.normalize_queries(['a b']) == ['A B']
    finally:
        TEXT_NORMALIZERS.module_dict.pop('_test_upper')
