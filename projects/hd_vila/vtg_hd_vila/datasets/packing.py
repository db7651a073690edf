"""Pack an HD-VILA item: the image tensors as ``inputs`` and the text and
labels on an ``ActionDataSample``."""
from typing import Sequence

import numpy as np
import torch
from mmaction.structures import ActionDataSample
from mmcv.transforms import BaseTransform

from vtg_plugins.registry import TRANSFORMS

#: text fields moved onto the data sample as ``int64`` tensors
TEXT_KEYS = ('text_ids', 'text_mask', 'option_ids', 'option_mask')
#: info keys copied to the data sample's metainfo when present
META_KEYS = ('sample_idx', 'qid', 'video_id', 'clip_id', 'question_id',
             'answer', 'answer_type', 'answer_label', 'gt_label', 'filename',
             'frame_inds', 'crop_box', 'flip')


@TRANSFORMS.register_module()
class PackHDVILAInputs(BaseTransform):
    """``dict(inputs=dict(keyframes, frames), data_samples=sample)``.

    Required keys: ``keyframes`` (``uint8 [n_clips, Hk, Wk, 3]``),
    ``frames`` (``uint8 [n_clips, num_frm - 1, Hl, Wl, 3]``). The outputs
    are ``keyframes`` ``uint8 [n_clips, 3, Hk, Wk]`` and ``frames`` ``uint8
    [n_clips, num_frm - 1, 3, Hl, Wl]`` (RGB, 0..255); the sample holds
    the present :data:`TEXT_KEYS` as data fields (``int64``) and the present
    ``meta_keys`` as metainfo.

    Args:
        meta_keys (Sequence[str]): info keys to keep as metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        keyframes = torch.from_numpy(
            np.ascontiguousarray(results['keyframes'])).permute(
                0, 3, 1, 2).contiguous()
        frames = torch.from_numpy(np.ascontiguousarray(
            results['frames'])).permute(0, 1, 4, 2, 3).contiguous()
        sample = ActionDataSample()
        for key in TEXT_KEYS:
            if key in results:
                sample.set_field(
                    torch.as_tensor(
                        np.asarray(results[key]), dtype=torch.long), key)
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(
            inputs=dict(keyframes=keyframes, frames=frames),
            data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
