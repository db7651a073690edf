"""BERT tokenizer and the special-token ids of MMPT's caption layout.

TempCLR (like VideoCLIP) uses the ``bert-base-uncased`` WordPiece vocabulary.
Nothing is fetched from a hub: the vocabulary is a local ``vocab.txt``.
"""
from pathlib import Path
from typing import List, NamedTuple, Union

from transformers import BertTokenizer


class SpecialTokens(NamedTuple):
    """Ids of ``[CLS]``, ``[SEP]`` and ``[PAD]``."""
    cls_id: int
    sep_id: int
    pad_id: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> 'SpecialTokens':
        return cls(tokenizer.cls_token_id, tokenizer.sep_token_id,
                   tokenizer.pad_token_id)


def load_bert_tokenizer(vocab_file: Union[str, Path],
                        do_lower_case: bool = True) -> BertTokenizer:
    """A WordPiece tokenizer from a local ``vocab.txt``.

    Raises:
        FileNotFoundError: when ``vocab_file`` is not a file.
        ValueError: when the vocabulary lacks a special token.
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise FileNotFoundError(
            f'BERT vocabulary {path} does not exist; give the local '
            f'vocab.txt of bert-base-uncased (nothing is downloaded)')
    tokenizer = BertTokenizer(str(path), do_lower_case=do_lower_case)
    for name in ('cls_token', 'sep_token', 'pad_token'):
        token = getattr(tokenizer, name)
        if token not in tokenizer.vocab:
            raise ValueError(f'BERT vocabulary {path} has no {token} entry')
    return tokenizer


def tokenize(tokenizer, text: str) -> List[int]:
    """WordPiece ids of ``text`` without special tokens."""
    return tokenizer(text, add_special_tokens=False)['input_ids']
