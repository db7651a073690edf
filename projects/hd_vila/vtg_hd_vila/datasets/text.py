"""HD-VILA text: the ``bert-base-uncased`` WordPiece tokenizer from a local
vocabulary, and the official encoding.

The official collators encode every caption, question or ``question + ' ' +
option`` string with ``BertTokenizerFast.batch_encode_plus(texts,
max_length=max_txt_len, pad_to_max_length=True)`` (transformers 2.11):
``[CLS] tokens [SEP]`` truncated to ``max_txt_len`` tokens (the
``longest_first`` default, special tokens included) and padded with
``[PAD]`` to ``max_txt_len``; the mask is 1 on the real tokens. The strings
are used as they are (no lower-casing or punctuation stripping beyond the
tokenizer's own), unlike MMAction2's MSR-VTT datasets. ``max_txt_len`` is
50 for retrieval and pre-training, 30 for TGIF-QA and 100 for MSRVTT-QA
(official configs).

Nothing is downloaded: the vocabulary is a local ``vocab.txt`` (or the
official ``tokenizer_dir`` holding one).
"""
import os
from pathlib import Path
from typing import Sequence, Tuple, Union

import numpy as np
from transformers import BertTokenizerFast

PathLike = Union[str, os.PathLike]
#: the tokens BERT's tokenizer needs in the vocabulary (the fast tokenizer
#: would otherwise append missing ones as new ids)
SPECIAL_TOKENS = ('[CLS]', '[SEP]', '[PAD]', '[UNK]', '[MASK]')


def load_bert_tokenizer(vocab: PathLike) -> BertTokenizerFast:
    """An uncased WordPiece tokenizer from a local vocabulary.

    Args:
        vocab: a ``vocab.txt`` file, or a folder holding one (the official
            ``tokenizer_dir``).

    Raises:
        FileNotFoundError: no vocabulary there.
        ValueError: the vocabulary lacks a special token.
    """
    path = Path(vocab)
    if path.is_dir():
        path = path / 'vocab.txt'
    if not path.is_file():
        raise FileNotFoundError(
            f'BERT vocabulary {path} does not exist; give the local '
            'vocab.txt of bert-base-uncased (nothing is downloaded)')
    with open(path, encoding='utf-8') as f:
        entries = {line.rstrip('\n') for line in f}
    for token in SPECIAL_TOKENS:
        if token not in entries:
            raise ValueError(f'BERT vocabulary {path} has no {token} entry')
    return BertTokenizerFast(vocab_file=str(path), do_lower_case=True)


def check_text(value, where: str) -> str:
    """``value`` if it is a string with a visible character.

    Raises:
        ValueError: not a string, or empty / blank (names ``where``).
    """
    if not isinstance(value, str):
        raise ValueError(f'{where}: expected a string, got '
                         f'{type(value).__name__} {value!r}')
    if not value.strip():
        raise ValueError(f'{where}: empty text {value!r}')
    return value


def encode_texts(tokenizer, texts: Sequence[str],
                 max_len: int) -> Tuple[np.ndarray, np.ndarray]:
    """The official encoding of ``texts`` (see the module doc).

    Args:
        tokenizer: from :func:`load_bert_tokenizer`.
        texts (Sequence[str]): the strings.
        max_len (int): tokens per row, special tokens included (>= 2).

    Returns:
        tuple: ``int64 [N, max_len]`` token ids and ``int64 [N, max_len]``
        mask.
    """
    if max_len < 2:
        raise ValueError(f'max_txt_len must leave room for [CLS] and [SEP], '
                         f'got {max_len}')
    if len(texts) == 0:
        shape = (0, max_len)
        return np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    enc = tokenizer(
        list(texts),
        max_length=max_len,
        padding='max_length',
        truncation=True,
        return_tensors='np')
    return (enc['input_ids'].astype(np.int64),
            enc['attention_mask'].astype(np.int64))
