"""HD-VILA pre-training data, stages 1 and 2 (official
``HDVILAPretrainDataset`` and ``PretrainCollator``; configs
``pretrain_stage1.json`` / ``pretrain_stage2.json``).

Annotations: one ``{"clip_id": ..., "text": ...}`` record per line of a
``.jsonl`` (or a ``.json`` list), one caption per clip. The official
HD-VILA-100M layout keeps clip ``<video>.<k>.mp4`` (the clip id, extension
included) at ``<video root>/<video>/<clip id>``, ``<video>`` being the clip
id up to its first dot (``layout='nested'``); the MSR-VTT validation set is
``<video root>/<clip id>.mp4`` (``layout='flat'``; official: any video root
whose path contains ``msrvtt``). The official trainer walks through shards
``train_group/part<i>.jsonl``, reloading the loader with the next shard
every ~0.98 epoch of one; here one dataset is one file (a
``ConcatDataset`` of the shards covers them all in one epoch).

An item (one clip, one caption; official ``max_n_example_per_group`` is 1
in both stages) is read as the official loader does, in training and in
validation alike (its ``is_train`` changes nothing on the data side):
``n_clips`` (official ``train_n_clips`` 2) clips of ``num_frm`` (7) frames
``sample_rate`` (12) apart drawn at random (:mod:`.clip_sampling`), every
frame resized to 720x1280 and one random 640x1024 window cropped
(:mod:`.pretrain_geometry`): ``keyframes`` ``uint8 [2, 3, 640, 1024]`` and
``frames`` ``uint8 [2, 6, 3, 160, 256]``. The official code leaves the
non-key frames at 640x1024 by a bug that its own model cannot run on; the
1/4 frames it meant are made here (see :mod:`.pretrain_geometry`).

Text: the caption's official ``max_txt_len`` (50) row (:mod:`.text`) as
``text_ids`` / ``text_mask``, encoded when the item is read; MLM corruption
is the stage-2 model's (the official collate does it;
``HDVILAPretrainStage2.loss`` here). With ``use_itm`` (official
option, off in both configs) the caption is replaced, with probability
``itm_neg_prob`` (official 0.5), by the caption of a random other record
and ``itm_label`` is 0 (else 1, the ground-truth pair), which
``HDVILAPretrainStage2(use_itm=True)`` reads.

Deviations: a missing or unreadable video is an error naming it and its
annotation line (the official loader logs it and substitutes a random other
clip, up to 10 times); a video so short that the lowered rate is 0 is
sampled as in :mod:`.clip_sampling` (its middle frames repeated; official:
a crash, then a substitute); the negative draw repeats until it finds another record
(official: 5 tries, then an exception); the ITM draw happens before the clip
draw (official: after), so only a run with ITM draws in another order; text
is read from the annotation file only (the official LMDB text store is not
supported).
"""
import os
import random
from typing import List, Optional, Sequence, Tuple

from vtg_plugins.registry import DATASETS
from .annotations import field, read_records
from .base import HDVILABaseDataset, token_row
from .packing import META_KEYS
from .pretrain_geometry import HDVILAPretrainResizeCrop  # noqa: F401
from .text import encode_texts

LAYOUTS = ('nested', 'flat')


@DATASETS.register_module()
class HDVILAPretrainDataset(HDVILABaseDataset):
    """One item per annotation record: a clip and its caption (or, for
    ITM, a negative caption).

    Data info keys: ``clip_id``, ``video_id`` (= ``clip_id``), ``qid`` (the
    record's 0-based position; the retrieval metric's key for the official
    validation), ``caption``, ``filename``, ``text_ids`` / ``text_mask``
    (``int64 [max_txt_len]``), ``itm_label`` (1, or 0 for a negative
    caption), ``ann_file``, ``line``, ``sample_idx``.

    Args:
        ann_file (str): the annotation file.
        vocab_file (str): local BERT ``vocab.txt`` (official
            ``tokenizer_dir``: ``bert-base-uncased``).
        max_txt_len (int): tokens per caption (official 50).
        data_prefix (dict): ``video``, the video root (official ``vis``).
        layout (str): ``'nested'`` (HD-VILA-100M clips) or ``'flat'``
            (MSR-VTT), see the module doc.
        use_itm (bool): draw negative captions (official ``use_itm``).
        itm_neg_prob (float): chance of a negative caption (official 0.5).
        **kwargs: :class:`~.base.HDVILABaseDataset` arguments
            (``pipeline``: :func:`hd_vila_pretrain_pipeline`).

    Raises:
        ValueError: an unknown ``layout``, ``max_txt_len`` < 2,
            ``itm_neg_prob`` outside [0, 1], ITM on fewer than 2 records, or
            a bad record (naming the file and line).
    """
    ANN_WHAT = 'HD-VILA pre-training annotation'

    def __init__(self,
                 ann_file: str,
                 vocab_file: str,
                 max_txt_len: int = 50,
                 data_prefix: Optional[dict] = None,
                 layout: str = 'nested',
                 use_itm: bool = False,
                 itm_neg_prob: float = 0.5,
                 **kwargs) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got '
                             f'{layout!r}')
        if int(max_txt_len) < 2:
            raise ValueError('max_txt_len must leave room for [CLS] and '
                             f'[SEP], got {max_txt_len}')
        if not 0 <= itm_neg_prob <= 1:
            raise ValueError(f'itm_neg_prob must be in [0, 1], got '
                             f'{itm_neg_prob}')
        self.layout = layout
        self.use_itm = bool(use_itm)
        self.itm_neg_prob = float(itm_neg_prob)
        super().__init__(ann_file, vocab_file, max_txt_len, data_prefix,
                         **kwargs)

    def parse_record(self, record: dict, where: str,
                     index: int) -> Tuple[dict, List[str]]:
        clip_id = field(record, 'clip_id', where, str)
        if not clip_id.strip():
            raise ValueError(f'{where}: empty clip_id')
        caption = self.texts([field(record, 'text', where, str)], where,
                             'text')[0]
        info = dict(
            clip_id=clip_id,
            video_id=clip_id,
            qid=index,
            caption=caption,
            filename=self.clip_path(clip_id))
        return info, [caption]

    def clip_path(self, clip_id: str) -> str:
        """The clip's video file under ``data_prefix['video']`` (see the
        module doc)."""
        if self.layout == 'flat':
            return self.video_path(clip_id)
        return os.path.join(
            self.data_prefix.get('video', ''),
            clip_id.split('.')[0], clip_id)

    def load_data_list(self) -> List[dict]:
        """Parse every record (captions are encoded when read, as the
        official collate does: a shard holds millions of clips).

        Raises:
            FileNotFoundError / ValueError: naming the file and the line of
                the first bad record; ITM on fewer than 2 records.
        """
        infos = []
        for index, (where, line, record) in enumerate(
                read_records(self.ann_file, self.ANN_WHAT)):
            info, _ = self.parse_record(record, where, index)
            info.update(ann_file=self.ann_file, line=line)
            infos.append(info)
        if self.use_itm and len(infos) < 2:
            raise ValueError(f'{self.ann_file}: use_itm draws the negative '
                             'captions from other records, but it holds only '
                             f'{len(infos)}')
        return infos

    def get_data_info(self, idx: int) -> dict:
        """The info of item ``idx`` with its caption encoded, or (ITM,
        chance ``itm_neg_prob``) the caption of a random other record and
        ``itm_label`` 0."""
        info = super().get_data_info(idx)
        info['itm_label'] = 1
        if self.use_itm and random.random() < self.itm_neg_prob:
            other = super().get_data_info(self._negative_index(idx))
            info.update(caption=other['caption'], itm_label=0)
        info['token_ids'], info['token_mask'] = encode_texts(
            self.tokenizer, [info['caption']], self.max_txt_len)
        return token_row(info, 0)

    def _negative_index(self, idx: int) -> int:
        """A record other than ``idx`` (official draw: ``int(random.random()
        * len)``, repeated while it hits ``idx``)."""
        idx = idx % len(self)
        while True:
            other = int(random.random() * len(self))
            if other != idx:
                return other


def hd_vila_pretrain_pipeline(n_clips: int = 2,
                              num_frm: int = 7,
                              sample_rate: int = 12,
                              frame_size: Sequence[int] = (720, 1280),
                              crop_size: Sequence[int] = (640, 1024),
                              keyframe: str = 'high_res',
                              backend: str = 'auto') -> List[dict]:
    """The transforms of the official pre-training loader (defaults: the
    stage-1 / stage-2 configs).

    Args:
        n_clips (int): clips per item (official ``train_n_clips``).
        num_frm (int): frames per clip, odd, >= 3.
        sample_rate (int): frame step inside a clip.
        frame_size (Sequence[int]): size every frame is resized to
            (official 720p; ``(180, 320)`` for its ``180p`` option).
        crop_size (Sequence[int]): the random window.
        keyframe (str): ``'high_res'`` (720p / 360p) or ``'upsample'``
            (180p), see :mod:`.pretrain_geometry`.
        backend (str): video decoder (``'auto'``: decord, then PyAV).

    Returns:
        list[dict]: transform configs ending with ``PackHDVILAInputs``
        (which keeps ``itm_label`` too).
    """
    return [
        dict(type='HDVILAVideoInit', backend=backend),
        dict(
            type='SampleHDVILAClips',
            n_clips=n_clips,
            num_frm=num_frm,
            sample_rate=sample_rate,
            random_clips=True),
        dict(type='HDVILAVideoDecode', high_res_keyframes=False),
        dict(
            type='HDVILAPretrainResizeCrop',
            frame_size=tuple(frame_size),
            crop_size=tuple(crop_size),
            keyframe=keyframe),
        dict(type='PackHDVILAInputs', meta_keys=META_KEYS + ('itm_label', )),
    ]
