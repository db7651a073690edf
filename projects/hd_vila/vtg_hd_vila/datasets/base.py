"""The common part of the HD-VILA datasets: official annotation records,
their text encoded once when the dataset loads, and paths of the videos or
frame folders."""
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from .annotations import read_records
from .text import check_text, encode_texts, load_bert_tokenizer

#: the official ``vis_format`` values
VIS_FORMATS = ('video', 'frame')


class HDVILABaseDataset(BaseDataset):
    """Records of an official annotation file, one item each, with their
    strings encoded by :func:`~.text.encode_texts`.

    Subclasses parse a record in :meth:`parse_record` into a data info and
    the strings to encode; each info then holds ``token_ids`` and
    ``token_mask`` (``int64 [num_strings, max_txt_len]``), ``ann_file`` and
    ``line`` (1-based line, or record number of a ``.json`` list; errors
    name them).

    Args:
        ann_file (str): the ``.jsonl`` (or ``.json``) file.
        vocab_file (str): local BERT ``vocab.txt`` (or the folder holding
            it, the official ``tokenizer_dir``).
        max_txt_len (int): tokens per string (official configs: 50
            retrieval / pre-training, 30 TGIF-QA, 100 MSRVTT-QA).
        data_prefix (dict): ``video`` (the folder of the ``.mp4`` files) or,
            for frame folders, ``frames`` and ``lr_frames``.
        **kwargs: ``mmengine.dataset.BaseDataset`` arguments (``pipeline``,
            ``test_mode``, ``data_root``, ...).
    """
    #: what the annotation file holds, for errors
    ANN_WHAT = 'HD-VILA annotation'

    def __init__(self,
                 ann_file: str,
                 vocab_file: str,
                 max_txt_len: int,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        self.vocab_file = vocab_file
        self.max_txt_len = int(max_txt_len)
        self.tokenizer = load_bert_tokenizer(vocab_file)
        super().__init__(
            ann_file=ann_file,
            data_prefix=dict(video='') if data_prefix is None else data_prefix,
            **kwargs)

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        """The data info of ``record`` (the ``index``-th) and its strings
        (checked with :func:`~.text.check_text`)."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """Parse every record and encode all strings in one batch.

        Raises:
            FileNotFoundError / ValueError: naming the file and the line of
                the first bad record (see :func:`~.annotations.read_records`
                and the subclass).
        """
        infos, texts, bounds = [], [], []
        for index, (where, line, record) in enumerate(
                read_records(self.ann_file, self.ANN_WHAT)):
            info, strings = self.parse_record(record, where, index)
            info.update(ann_file=self.ann_file, line=line)
            bounds.append((len(texts), len(texts) + len(strings)))
            texts.extend(strings)
            infos.append(info)
        ids, mask = encode_texts(self.tokenizer, texts, self.max_txt_len)
        for info, (start, end) in zip(infos, bounds):
            info['token_ids'] = ids[start:end]
            info['token_mask'] = mask[start:end]
        return infos

    # --- helpers for subclasses -------------------------------------------

    def video_path(self, name: str) -> str:
        """``<data_prefix['video']>/<name>.mp4``."""
        return os.path.join(self.data_prefix.get('video', ''), name + '.mp4')

    @staticmethod
    def texts(values: Sequence, where: str, what: str) -> List[str]:
        """Each value checked to be a non-empty string (errors name
        ``what`` and its position)."""
        return [
            check_text(
                v, f'{where}: {what}' + (f' {i}' if len(values) > 1 else ''))
            for i, v in enumerate(values)
        ]


def frame_roots(data_prefix: dict) -> dict:
    """``data_prefix`` with ``lr_frames`` derived from ``frames`` as the
    official loader does (``video_frames`` -> ``video_frames_lr``) when it
    is not given.

    Raises:
        ValueError: no ``frames`` entry, or no ``lr_frames`` and a
            ``frames`` path without ``video_frames`` in it.
    """
    prefix = dict(data_prefix)
    if 'frames' not in prefix:
        raise ValueError("vis_format='frame' needs data_prefix['frames'] "
                         '(the full-resolution frame folders)')
    if 'lr_frames' not in prefix:
        frames = str(prefix['frames'])
        if 'video_frames' not in frames:
            raise ValueError(
                f"data_prefix['frames'] = {frames!r} has no 'video_frames' "
                "to derive the low-resolution folder from (official: "
                "'video_frames' -> 'video_frames_lr'); give "
                "data_prefix['lr_frames']")
        prefix['lr_frames'] = frames.replace('video_frames', 'video_frames_lr')
    return prefix


def token_row(info: dict, row: int) -> dict:
    """Move string ``row`` of an info's ``token_ids`` / ``token_mask`` to
    ``text_ids`` / ``text_mask`` (``int64 [max_txt_len]``)."""
    info['text_ids'] = np.asarray(info.pop('token_ids')[row])
    info['text_mask'] = np.asarray(info.pop('token_mask')[row])
    return info
