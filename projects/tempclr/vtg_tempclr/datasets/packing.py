"""MMPT's video and caption rows, and the transform that packs them.

A video row holds up to ``max_video_len`` feature steps (one S3D feature per
second), zero-padded, with a bool mask. A caption row holds
``max_len - max_video_len`` ids laid out ``[CLS] [SEP] tokens [SEP] [PAD]...``:
the video encoder reads ``[CLS]`` and the first ``[SEP]`` around the video
tokens, the text encoder reads ``[CLS] tokens [SEP]``.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import TRANSFORMS
from .tokens import SpecialTokens


def build_video_rows(features: np.ndarray, start: int, end: int,
                     max_video_len: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """One video row from ``features[start:end]``.

    Args:
        features (np.ndarray): ``[T, D]`` per-second features.
        start (int): first step (``0 <= start``).
        end (int): step after the last; at most ``max_video_len`` steps are
            kept.
        max_video_len (int): row length ``Lv``.

    Returns:
        tuple: ``vfeats`` ``[Lv, D]`` float32 and ``vmasks`` ``[Lv]`` bool.
    """
    if features.ndim != 2:
        raise ValueError(f'video features must be [T, D], got shape '
                         f'{tuple(features.shape)}')
    if start < 0:
        raise ValueError(f'video window starts at {start} < 0')
    length = max(0, min(max_video_len, end - start,
                        len(features) - start))
    vfeats = torch.zeros(max_video_len, features.shape[1])
    vmasks = torch.zeros(max_video_len, dtype=torch.bool)
    if length:
        vfeats[:length] = torch.from_numpy(
            np.array(features[start:start + length], dtype=np.float32))
        vmasks[:length] = True
    return vfeats, vmasks


def build_text_tokens(token_ids: Sequence[int], special: SpecialTokens,
                      max_len: int,
                      max_video_len: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """One caption row ``[CLS] [SEP] tokens [SEP] [PAD]...``.

    Args:
        token_ids (Sequence[int]): WordPiece ids without special tokens;
            truncated to ``max_len - max_video_len - 3``.
        special (SpecialTokens): ids of ``[CLS]``, ``[SEP]``, ``[PAD]``.
        max_len (int): video plus text length of MMPT (96).
        max_video_len (int): video length (32).

    Returns:
        tuple: ``caps`` ``[max_len - max_video_len]`` long and ``cmasks``
        of the same shape, bool, True on the non-pad part.
    """
    row_len = max_len - max_video_len
    if row_len < 3:
        raise ValueError(f'max_len {max_len} - max_video_len {max_video_len} '
                         f'leaves no room for [CLS] [SEP] ... [SEP]')
    body = [int(t) for t in token_ids][:row_len - 3]
    ids = [special.cls_id, special.sep_id] + body + [special.sep_id]
    caps = torch.full((row_len, ), special.pad_id, dtype=torch.long)
    caps[:len(ids)] = torch.tensor(ids, dtype=torch.long)
    cmasks = torch.zeros(row_len, dtype=torch.bool)
    cmasks[:len(ids)] = True
    return caps, cmasks


_ROWS = {'vfeats': 3, 'vmasks': 2, 'caps': 2, 'cmasks': 2}


def _as_tensor(value, key: str) -> torch.Tensor:
    tensor = torch.as_tensor(value)
    if tensor.dim() != _ROWS[key]:
        raise ValueError(f'PackTempCLRInputs: {key} must have '
                         f'{_ROWS[key]} dims, got shape {tuple(tensor.shape)}')
    return tensor


@TRANSFORMS.register_module()
class PackTempCLRInputs:
    """Pack video rows, caption rows and meta fields for the model.

    Reads ``vfeats [Nv, Lv, D]``, ``vmasks [Nv, Lv]``, ``caps [Nt, Lt]`` and
    ``cmasks [Nt, Lt]`` from the results dict and returns
    ``dict(inputs=dict(vfeats, vmasks, caps, cmasks), data_samples=...)``
    where the data sample holds the ``meta_keys`` present in the results
    plus ``num_video_rows`` and ``num_text_rows``.

    Args:
        meta_keys (Sequence[str]): results keys copied onto the data sample.
    """

    def __init__(self, meta_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        missing = [k for k in _ROWS if k not in results]
        if missing:
            raise KeyError(f'PackTempCLRInputs: results lack {missing}')
        inputs = {k: _as_tensor(results[k], k) for k in _ROWS}
        if len(inputs['vfeats']) != len(inputs['vmasks']):
            raise ValueError('PackTempCLRInputs: vfeats and vmasks have '
                             'different row counts')
        if inputs['caps'].shape != inputs['cmasks'].shape:
            raise ValueError('PackTempCLRInputs: caps and cmasks differ in '
                             'shape')
        inputs['vfeats'] = inputs['vfeats'].float()
        inputs['vmasks'] = inputs['vmasks'].bool()
        inputs['caps'] = inputs['caps'].long()
        inputs['cmasks'] = inputs['cmasks'].bool()
        sample = BaseDataElement(
            **{k: results[k]
               for k in self.meta_keys if k in results},
            num_video_rows=len(inputs['vfeats']),
            num_text_rows=len(inputs['caps']))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
