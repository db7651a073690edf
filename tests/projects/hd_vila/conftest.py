"""Tiny BERT configs for HD-VILA tests (nothing downloads)."""
import pytest


@pytest.fixture
def tiny_bert_config():
    """Kwargs of a tiny ``BertConfig``: 4 layers (2 text + 2 cross-modal),
    hidden 16, 2 heads."""
    return dict(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)
