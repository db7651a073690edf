"""HD-VILA text encoding: the official ``batch_encode_plus(max_length,
pad_to_max_length=True)`` rows, checked against the slow ``BertTokenizer``
on the official strings and against ids worked out from the tiny
vocabulary (specials 0-5, then ``vtg_hd_vila.testing.WORDS`` from 6)."""
from pathlib import Path

import numpy as np
import pytest
from transformers import BertTokenizer

from vtg_hd_vila.datasets.text import encode_texts, load_bert_tokenizer
from vtg_hd_vila.testing import CAPTIONS, QA, write_vocab


@pytest.fixture(scope='module')
def vocab(tmp_path_factory):
    return write_vocab(tmp_path_factory.mktemp('vocab') / 'vocab.txt')


def official_row(slow, text, max_len):
    """[CLS] + WordPiece tokens (cut to max_len - 2) + [SEP], [PAD]ded."""
    ids = slow.convert_tokens_to_ids(slow.tokenize(text))[:max_len - 2]
    row = [slow.cls_token_id] + ids + [slow.sep_token_id]
    return row + [slow.pad_token_id] * (max_len - len(row)), len(row)


@pytest.mark.parametrize('max_len', [6, 12, 50])
def test_rows_equal_the_slow_bert_tokenizer(vocab, max_len):
    tok, slow = load_bert_tokenizer(vocab), BertTokenizer(vocab)
    texts = list(CAPTIONS) + [q for q, _, _ in QA]
    ids, mask = encode_texts(tok, texts, max_len)
    assert ids.shape == mask.shape == (len(texts), max_len)
    assert ids.dtype == mask.dtype == np.int64
    for text, row, row_mask in zip(texts, ids, mask):
        expected, length = official_row(slow, text, max_len)
        assert row.tolist() == expected, text
        assert row_mask.tolist() == [1] * length + [0] * (max_len - length)


def test_ids_by_hand(vocab):
    tok = load_bert_tokenizer(vocab)
    # a=6 man=7 is=11 play=13 ##ing=14 the=15 guitar=16 .=39; lower-cased
    ids, mask = encode_texts(tok, ['A Man is PLAYING the guitar.'], 12)
    assert ids[0].tolist() == [3, 6, 7, 11, 13, 14, 15, 16, 39, 4, 0, 0]
    assert mask[0].tolist() == [1] * 10 + [0] * 2
    # truncated to 6 tokens, [SEP] kept last
    ids, _ = encode_texts(tok, ['A Man is PLAYING the guitar.'], 6)
    assert ids[0].tolist() == [3, 6, 7, 11, 13, 4]


def test_strings_are_not_rewritten(vocab):
    # MMAction2's MSR-VTT datasets strip punctuation; HD-VILA keeps it:
    # a=6 cat=10 sit=35 ##s=19 ,=41 then=37 zebra=[UNK]=2 run=18
    ids, _ = encode_texts(
        load_bert_tokenizer(vocab), ['a cat sits, then a zebra runs'], 14)
    assert ids[0].tolist() == [3, 6, 10, 35, 19, 41, 37, 6, 2, 18, 19, 4, 0, 0]


def test_tokenizer_dir_is_accepted(vocab):
    tok = load_bert_tokenizer(Path(vocab).parent)
    assert tok.cls_token_id == 3 and tok.pad_token_id == 0
