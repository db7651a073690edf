"""Pipeline transforms of the example project."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import TRANSFORMS

#: record fields copied into the data sample's metainfo
META_KEYS = ('qid', 'vid', 'query', 'duration', 'clip_len')


def clips_in_windows(windows: Sequence[Sequence[float]], num_clips: int,
                     clip_len: float) -> np.ndarray:
    """Which clips have their centre inside one of the windows.

    Args:
        windows: ``[N, 2]`` ``(start, end)`` seconds (N may be 0).
        num_clips (int): T, the number of clips of the video.
        clip_len (float): seconds per clip.

    Returns:
        np.ndarray: bool ``[T]``.
    """
    centres = (np.arange(num_clips) + 0.5) * clip_len
    inside = np.zeros(num_clips, dtype=bool)
    for start, end in windows:
        inside |= (centres >= start) & (centres <= end)
    return inside


@TRANSFORMS.register_module()
class PackExampleInputs(BaseTransform):
    """Pack a data info into the model's ``inputs`` and ``data_samples``.

    Reads ``video_feat`` ``[T, D]`` and the record fields; writes

    - ``inputs``: float32 tensor ``[T, D]``;
    - ``data_samples``: a ``BaseDataElement`` with metainfo ``qid``,
      ``vid``, ``query``, ``duration``, ``clip_len`` and the data fields
      ``gt_windows`` ``[N, 2]`` (seconds) and ``clip_labels`` ``[T]``
      (1.0 for clips whose centre lies in a ground-truth window).
    """

    def transform(self, results: dict) -> dict:
        feat = np.asarray(results['video_feat'], dtype=np.float32)
        if feat.ndim != 2:
            raise ValueError(f"qid {results.get('qid')!r}: video_feat must be "
                             f'[T, D], got shape {feat.shape}')
        windows = np.asarray(results['windows'], dtype=np.float32)
        labels = clips_in_windows(
            windows.reshape(-1, 2), len(feat), results['clip_len'])
        sample = BaseDataElement(metainfo={k: results[k] for k in META_KEYS})
        sample.gt_windows = torch.from_numpy(windows.reshape(-1, 2))
        sample.clip_labels = torch.from_numpy(labels.astype(np.float32))
        return dict(inputs=torch.from_numpy(feat), data_samples=sample)
