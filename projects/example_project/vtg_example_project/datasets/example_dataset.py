"""A dataset over the normalized grounding annotation, with generated
features.

Real projects read their features from a feature store (see
:class:`vtg_plugins.datasets.GroundingDataset`); here the features are made
from the annotation itself, so the template trains anywhere with nothing to
download: each clip gets Gaussian noise, and clips inside a ground-truth
window also get a fixed direction, the "moment" the model learns to find.
"""
import math
import os.path as osp
from typing import List

import numpy as np
from mmengine.dataset import BaseDataset

from vtg_plugins.datasets import load_grounding_annotations
from vtg_plugins.registry import DATASETS
from .transforms import clips_in_windows

#: the annotations shipped with the package
ANNOTATION_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'annotations')
SPLITS = ('train', 'val')


@DATASETS.register_module()
class ExampleMomentDataset(BaseDataset):
    """One sample per query of a normalized grounding annotation.

    Each data info holds the record fields (``qid``, ``vid``, ``query``,
    ``duration``, ``windows``, ``saliency``, ``clip_len``, ``extra``) and
    ``video_feat``, float32 ``[T, D]`` with ``T = ceil(duration / clip_len)``.

    Args:
        ann_file (str): a normalized ``.jsonl`` annotation; empty (default)
            reads the one shipped for ``split``
            (``annotations/example_moments_{split}.jsonl``).
        split (str): ``'train'`` or ``'val'``, for the shipped annotation.
        feat_dim (int): D, the feature size.
        signal (float): strength of the moment direction added inside the
            ground-truth windows.
        seed (int): seed of the direction and of every video's noise (the
            same features on every rank and every epoch).
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``,
            ``data_root``, ...).
    """

    def __init__(self,
                 ann_file: str = '',
                 split: str = 'train',
                 feat_dim: int = 16,
                 signal: float = 3.0,
                 seed: int = 0,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if not ann_file:
            ann_file = osp.join(ANNOTATION_DIR,
                                f'example_moments_{split}.jsonl')
        self.split = split
        self.feat_dim = feat_dim
        self.signal = signal
        self.seed = seed
        kwargs.setdefault('serialize_data', False)
        super().__init__(ann_file=ann_file, **kwargs)

    def load_data_list(self) -> List[dict]:
        # the shared loader validates every record and names the file, the
        # line and the field of a bad one
        records = load_grounding_annotations(self.ann_file)
        direction = np.random.default_rng(self.seed).standard_normal(
            self.feat_dim)
        direction /= np.linalg.norm(direction)
        data_list = []
        for index, rec in enumerate(records):
            num_clips = math.ceil(rec.duration / rec.clip_len - 1e-6)
            rng = np.random.default_rng([self.seed, index])
            feat = rng.standard_normal((num_clips, self.feat_dim))
            inside = clips_in_windows(rec.windows, num_clips, rec.clip_len)
            feat[inside] += self.signal * direction
            info = rec.to_dict()
            info['video_feat'] = feat.astype(np.float32)
            data_list.append(info)
        return data_list
