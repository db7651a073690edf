"""Tiny BERT configs and vocabularies for TempCLR tests (nothing downloads)."""
import pytest

WORDS = ('a', 'man', 'opens', 'the', 'door', 'cut', 'onion', 'add', 'salt',
         'pour', 'water', 'into', 'pan', 'stir', 'and', 'then', 'mix', 'egg',
         'bread', 'oil', 'heat', 'put', 'on', 'top', '##s', '##ed', '##ing',
         'it', 'with', 'jack', 'tire', 'car', 'remove', 'wheel', '.')
VOCAB = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]') + WORDS


@pytest.fixture
def tiny_bert_config():
    """Kwargs of a tiny ``BertConfig`` (hidden 16, 2 layers, 2 heads)."""
    return dict(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)


@pytest.fixture
def tiny_vocab(tmp_path):
    """Path of a WordPiece ``vocab.txt`` matching ``tiny_bert_config``."""
    path = tmp_path / 'vocab.txt'
    path.write_text('\n'.join(VOCAB) + '\n')
    return path
