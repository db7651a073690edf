"""HowTo100M pre-training data of VideoCLIP / TempCLR (MMPT's sharded
layout, see :mod:`.how2_layout`), one item per group of videos.

An item is a group of ``num_video_per_batch`` videos (MMPT
``ShardedHow2VideoRetriMetaProcessor``): at first the consecutive chunks of
the video list, as many as fit in a multiple of ``group_multiple`` (8)
groups; later the groups the retrieval pass sets (:meth:`set_groups`, see
:mod:`vtg_tempclr.engine.retrieval_batching`). Each video gives
``clip_per_video`` clips drawn by MMPT's ``OverlappedAligner``
(:func:`.clip_sampling.sample_overlapped_clip`) in the official order,
sorted as MMPT sorts them, and turned into MMPT rows (``vfeats [C, Lv, D]``,
``vmasks``, ``caps [C, Lt]``, ``cmasks``). The pipeline (by default
:class:`.packing.PackTempCLRInputs`) runs once per video; the item holds the
rows of all videos and the list of their data samples, each with
``video_id`` and ``text_start``, ``text_end``, ``video_start``,
``video_end`` ``[C]`` long tensors (caption indices and feature steps).

Randomness is python's global ``random``, as in MMPT; the Runner seeds it
in each DataLoader worker. The dataset never seeds it.
"""
import os.path as osp
import random
from typing import List, Optional, Sequence

import torch
from mmengine.dataset import BaseDataset

from vtg_plugins.registry import DATASETS
from .clip_sampling import (ClipWindow, RandomSource, sample_aligned_clip,
                            sample_overlapped_clip, sort_clips)
from .how2_layout import How2Shards, How2Video, read_video_list
from .packing import PackTempCLRInputs, build_text_tokens, build_video_rows
from .tokens import SpecialTokens, load_bert_tokenizer

SAMPLE_KEYS = ('video_id', 'text_start', 'text_end', 'video_start',
               'video_end')
_WINDOW_FIELDS = ClipWindow._fields


def first_groups(video_ids: Sequence[str], group_size: int,
                 group_multiple: int) -> List[List[str]]:
    """MMPT's initial groups: consecutive chunks of ``group_size`` ids, as
    many as fit in a multiple of ``group_multiple`` groups."""
    count = len(video_ids) // (group_multiple * group_size) * group_multiple
    return [
        list(video_ids[i * group_size:(i + 1) * group_size])
        for i in range(count)
    ]


def _special_tokens(vocab_file: Optional[str],
                    special_tokens: Optional[dict]) -> SpecialTokens:
    if (vocab_file is None) == (special_tokens is None):
        raise ValueError('How2ShardedDataset: give one of vocab_file (the '
                         'local vocab.txt) or special_tokens=dict(cls_id=, '
                         'sep_id=, pad_id=)')
    if vocab_file is not None:
        return SpecialTokens.from_tokenizer(load_bert_tokenizer(vocab_file))
    return SpecialTokens(**special_tokens)


def _merge(packed: List[dict]) -> dict:
    """Concatenate the rows of per-video packed results, list the samples."""
    keys = packed[0]['inputs'].keys()
    return dict(
        inputs={k: torch.cat([p['inputs'][k] for p in packed])
                for k in keys},
        data_samples=[p['data_samples'] for p in packed])


@DATASETS.register_module()
class How2ShardedDataset(BaseDataset):
    """HowTo100M groups of videos with MMPT's clip sampling.

    Args:
        ann_file (str): the video list (MMPT ``train_path``), one id a line.
        vfeat_dir (str): folder of the video shards and the meta pickle.
        tfeat_dir (str): path prefix of the caption shards.
        split (str): shard name prefix (``'train'``; MMPT reads ``'val'``
            for validation). Default ``'train'``.
        vocab_file (str, optional): local BERT ``vocab.txt`` giving the ids
            of ``[CLS] [SEP] [PAD]``; or give ``special_tokens``.
        special_tokens (dict, optional): ``cls_id``, ``sep_id``, ``pad_id``.
        num_video_per_batch (int): videos per item. Default 16.
        clip_per_video (int): clips per video ``C``. Default 16.
        max_video_len (int): video row length ``Lv``. Default 32.
        max_len (int): MMPT's video + text length (caption rows hold
            ``max_len - max_video_len`` ids). Default 96.
        sampled_min_len / sampled_max_len (int): range of the token budget
            of a clip's caption run. Default 8 / 64.
        sampled_video_min_len / sampled_video_max_len (int): range of a
            clip's video window length. Default 3 / 32.
        group_multiple (int): the initial group count is a multiple of it.
            Default 8.
        caption_end_tolerance (float): see :class:`.how2_layout.How2Shards`.
        pipeline (list, optional): transforms run on each video's results;
            must end in a packer returning ``dict(inputs, data_samples)``.
            Default ``[PackTempCLRInputs(meta_keys=SAMPLE_KEYS)]``.
        data_root (str): joined before relative paths.
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 ann_file: str,
                 vfeat_dir: str,
                 tfeat_dir: str,
                 split: str = 'train',
                 vocab_file: Optional[str] = None,
                 special_tokens: Optional[dict] = None,
                 num_video_per_batch: int = 16,
                 clip_per_video: int = 16,
                 max_video_len: int = 32,
                 max_len: int = 96,
                 sampled_min_len: int = 8,
                 sampled_max_len: int = 64,
                 sampled_video_min_len: int = 3,
                 sampled_video_max_len: int = 32,
                 group_multiple: int = 8,
                 caption_end_tolerance: float = 1.0,
                 pipeline: Optional[Sequence] = None,
                 data_root: str = '',
                 **kwargs) -> None:
        self.special = _special_tokens(vocab_file, special_tokens)
        self.vfeat_dir = osp.join(data_root, vfeat_dir)
        self.tfeat_dir = osp.join(data_root, tfeat_dir)
        self.split = split
        self.num_video_per_batch = num_video_per_batch
        self.clip_per_video = clip_per_video
        self.max_video_len = max_video_len
        self.max_len = max_len
        self.text_tokens = (sampled_min_len, sampled_max_len)
        self.video_frames = (sampled_video_min_len, sampled_video_max_len)
        self.group_multiple = group_multiple
        self.caption_end_tolerance = caption_end_tolerance
        self._video_ids: List[str] = []
        self.shards: Optional[How2Shards] = None
        if pipeline is None:
            pipeline = [PackTempCLRInputs(meta_keys=SAMPLE_KEYS)]
        kwargs.setdefault('data_prefix', {})
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            pipeline=list(pipeline),
            **kwargs)

    # --- index ---------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Read the list and the meta, check the shards, make the first
        groups.

        Raises:
            ValueError: naming the list file and line of a video the meta
                lacks, or when the list is too short for one group multiple.
        """
        ids = read_video_list(self.ann_file)
        self.shards = How2Shards(self.vfeat_dir, self.tfeat_dir, self.split,
                                 self.caption_end_tolerance)
        for i, video_id in enumerate(ids):
            if video_id not in self.shards:
                raise ValueError(
                    f'video list {self.ann_file}: line {i + 1}: video '
                    f'{video_id!r} is not in shard meta '
                    f'{self.shards.meta_path}')
        self._video_ids = ids
        groups = first_groups(ids, self.num_video_per_batch,
                              self.group_multiple)
        if not groups:
            raise ValueError(
                f'video list {self.ann_file} holds {len(ids)} videos, fewer '
                f'than group_multiple x num_video_per_batch = '
                f'{self.group_multiple} x {self.num_video_per_batch}')
        return [dict(video_ids=g) for g in groups]

    @property
    def video_ids(self) -> List[str]:
        """All videos of the list, in list order (the retrieval pool)."""
        self.full_init()
        return list(self._video_ids)

    def set_groups(self, groups: Sequence[Sequence[str]]) -> None:
        """Make ``groups`` the items (retrieval-augmented batching).

        Raises:
            ValueError: naming the group of an empty group or of a video
                missing from the shard meta.
        """
        self.full_init()
        checked = []
        for i, group in enumerate(groups):
            group = list(group)
            if not group:
                raise ValueError(f'set_groups: group {i} is empty')
            for video_id in group:
                if video_id not in self.shards:
                    raise ValueError(
                        f'set_groups: group {i} names video {video_id!r}, '
                        f'which shard meta {self.shards.meta_path} lacks')
            checked.append(dict(video_ids=group))
        if not checked:
            raise ValueError('set_groups: no group given')
        self.data_list = checked
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize_data()

    # --- items ---------------------------------------------------------------
    def read_video(self, video_id: str) -> How2Video:
        """The checked features and captions of a video."""
        self.full_init()
        return self.shards.read(video_id)

    def training_clips(self, video: How2Video,
                       rng: RandomSource) -> List[ClipWindow]:
        """``clip_per_video`` overlapped clips, sorted as MMPT."""
        return sort_clips([
            sample_overlapped_clip(video.captions, len(video.features), rng,
                                   self.text_tokens, self.video_frames)
            for _ in range(self.clip_per_video)
        ])

    def clip_rows(self, video: How2Video, clips: Sequence[ClipWindow]) -> dict:
        """MMPT rows of ``clips``: ``vfeats [C, Lv, D]`` float32, ``vmasks
        [C, Lv]``, ``caps [C, Lt]`` long, ``cmasks [C, Lt]``, plus
        ``video_id`` and the clip bounds as ``[C]`` long tensors."""
        video_rows = [
            build_video_rows(video.features, c.video_start, c.video_end,
                             self.max_video_len) for c in clips
        ]
        text_rows = [
            build_text_tokens([
                t for ids in video.tokens[c.text_start:c.text_end] for t in ids
            ], self.special, self.max_len, self.max_video_len) for c in clips
        ]
        results = dict(
            vfeats=torch.stack([v for v, _ in video_rows]),
            vmasks=torch.stack([m for _, m in video_rows]),
            caps=torch.stack([c for c, _ in text_rows]),
            cmasks=torch.stack([m for _, m in text_rows]),
            video_id=video.video_id)
        for field in _WINDOW_FIELDS:
            results[field] = torch.tensor([getattr(c, field) for c in clips],
                                          dtype=torch.long)
        return results

    def retrieval_inputs(self, video_id: str, rng: RandomSource) -> dict:
        """Rows of ``clip_per_video`` clips of MMPT's retrieval pass
        (``VariedLenAligner``: video windows aligned with their captions),
        drawn from ``rng``; keys as :meth:`clip_rows`."""
        video = self.read_video(video_id)
        clips = sort_clips([
            sample_aligned_clip(video.captions, len(video.features), rng,
                                self.text_tokens)
            for _ in range(self.clip_per_video)
        ])
        return self.clip_rows(video, clips)

    def prepare_data(self, idx: int) -> Optional[dict]:
        """The packed group ``idx``: rows of all its videos (``C`` each, in
        group order) and the list of their data samples."""
        packed = []
        for video_id in self.get_data_info(idx)['video_ids']:
            video = self.read_video(video_id)
            results = self.clip_rows(video, self.training_clips(video, random))
            out = self.pipeline(results)
            if out is None:
                return None
            packed.append(out)
        return _merge(packed)
