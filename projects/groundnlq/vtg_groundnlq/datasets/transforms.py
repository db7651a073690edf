"""GroundNLQ's per-sample processing as pipeline transforms.

After houzhijian/GroundNLQ ``libs/datasets/ego4d_loader.py``
(``Ego4dDataset.__getitem__``):

- video features are cast to float32 (``[T, 2304]``), query token features
  are read as stored (``[L, 512]``; a 1-D vector becomes ``[1, D]``);
- ground truth stays in **seconds** (``gt_windows``); the model converts it
  to the feature grid as the official loader does, ``sec * fps /
  feat_stride`` with no offset (the official ``- 0.5 * num_frames`` is
  commented out), unclamped;
- the official narration pre-training randomly rescales and shifts each
  window every time it is read (:class:`NLQTemporalJitter`);
- the released loader does not crop or truncate clips (the ``trunc_thresh``
  / ``crop_ratio`` keys of three official yamls are not read by it — they
  would be rejected as unknown arguments); a training clip longer than
  ``max_seq_len`` is refused by the model with an error naming the clip.
"""
import random
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import TRANSFORMS

_META_KEYS = ('qid', 'source_qid', 'vid', 'query', 'duration', 'clip_uid',
              'annotation_uid', 'query_idx')


def _where(info: dict) -> str:
    return f"qid {info.get('qid')!r} (clip {info.get('vid')!r})"


@TRANSFORMS.register_module()
class NLQTemporalJitter(BaseTransform):
    """GroundNLQ's temporal jittering of narration windows.

    For every window of centre ``c`` and length ``d`` (official
    ``enable_temporal_jittering``): ``s = randint(1, max_scale)``, ``shift =
    uniform(-1, 1) * (s - 1) * d / 2``, new window ``c - shift ± s * d /
    2``; ``s = 1`` keeps the window. Uses Python's ``random`` in the
    official order (one ``randint`` then one ``uniform`` per window), so a
    seeded run draws the official values.

    Required keys: ``windows`` ``[N, 2]`` seconds. Added keys:
    ``gt_windows`` (float64 ``[N, 2]``).

    Args:
        max_scale (int): largest scale ratio (official 10).
    """

    def __init__(self, max_scale: int = 10) -> None:
        if max_scale < 1:
            raise ValueError(f'max_scale must be >= 1, got {max_scale}')
        self.max_scale = max_scale

    def transform(self, info: dict) -> dict:
        out = []
        for start, end in info['windows']:
            length, center = end - start, (end + start) / 2
            scale = random.randint(1, self.max_scale)
            shift = random.uniform(-1, 1) * (scale - 1) * length / 2
            center = center - shift
            out.append([center - scale * length / 2,
                        center + scale * length / 2])
        info['gt_windows'] = np.asarray(out, dtype=np.float64).reshape(-1, 2)
        return info

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_scale={self.max_scale})'


@TRANSFORMS.register_module()
class PackGroundNLQInputs(BaseTransform):
    """Pack features and fields into ``dict(inputs, data_samples)`` for
    :class:`~vtg_groundnlq.models.GroundNLQ`.

    ``inputs``: ``video`` float32 ``[T, Dv]`` and ``query`` ``[L, Dq]``
    tensors. ``data_samples``: a ``BaseDataElement`` whose metainfo holds
    ``qid``, ``source_qid`` (as the annotation file typed it), ``vid``,
    ``query``, ``duration`` (s), ``fps``, ``feat_stride``,
    ``feat_num_frames``, the submission keys ``clip_uid``,
    ``annotation_uid``, ``query_idx`` when the dataset has them, and
    ``relevant_windows`` (the annotation, for offline metrics); its data
    field ``gt_windows`` (float64 ``[N, 2]`` seconds: jittered ones when a
    jitter ran before, else the annotation) is what the loss trains on.

    Args:
        fps (float): frame rate the features were computed at (30).
        feat_stride (float): frames between features (16.043, i.e. 1.87
            features per second).
        feat_num_frames (float): frames per feature (16.043).
        with_gt (bool): add ``gt_windows`` (needs annotated windows).
            Defaults to True; test splits without GT set it False.
    """

    def __init__(self,
                 fps: float = 30.0,
                 feat_stride: float = 16.043,
                 feat_num_frames: float = 16.043,
                 with_gt: bool = True,
                 meta_keys: Sequence[str] = _META_KEYS) -> None:
        self.time = dict(
            fps=float(fps),
            feat_stride=float(feat_stride),
            feat_num_frames=float(feat_num_frames))
        self.with_gt = with_gt
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _tensor(feat: np.ndarray, name: str, info: dict,
                dtype: Optional[np.dtype] = None) -> torch.Tensor:
        feat = np.asarray(feat)
        if feat.ndim == 1:
            feat = feat[None]
        if feat.ndim != 2 or feat.shape[0] == 0:
            raise ValueError(f'{_where(info)}: {name} features must be '
                             f'[N>0, D], got shape {feat.shape}')
        if dtype is not None:
            feat = feat.astype(dtype, copy=False)
        return torch.from_numpy(np.ascontiguousarray(feat))

    def transform(self, info: dict) -> dict:
        inputs = dict(
            video=self._tensor(info['video_feat'], 'video', info,
                               np.float32),
            query=self._tensor(info['query_feat'], 'query', info))
        meta = {k: info[k] for k in self.meta_keys if k in info}
        meta.update(self.time)
        meta['relevant_windows'] = info.get('windows', [])
        sample = BaseDataElement(metainfo=meta)
        if self.with_gt:
            gt = info.get('gt_windows', info.get('windows'))
            if gt is None or len(gt) == 0:
                raise ValueError(f'{_where(info)}: no ground-truth window '
                                 f'(use with_gt=False for a test split)')
            sample.gt_windows = torch.as_tensor(
                np.asarray(gt, dtype=np.float64).reshape(-1, 2))
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.time}, '
                f'with_gt={self.with_gt})')
