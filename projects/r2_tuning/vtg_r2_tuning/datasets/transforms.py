"""R²-Tuning's training targets and input packing, as pipeline transforms.

Target construction follows the official ``datasets/grounding.py``
(``bind_boundary`` / ``bind_saliency``) and ``datasets/tvsum.py`` /
``youtube.py`` of yeliudev/R2-Tuning; the arithmetic is done in float32
torch as there, so targets are bit-identical.
"""
import math
import random
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import TRANSFORMS


def _fail(info: dict, what: str) -> ValueError:
    return ValueError(f"qid {info.get('qid')!r} (video {info.get('vid')!r}): "
                      f'{what}')


def _pick_positive(saliency: torch.Tensor, positive: torch.Tensor,
                   info: dict) -> int:
    """A random clip among ``positive`` (official ``random.sample``)."""
    candidates = positive.nonzero()[:, 0].tolist()
    if not candidates:
        raise _fail(info, 'no clip has positive saliency, so no positive '
                    'clip can be sampled for the saliency loss')
    return random.sample(candidates, 1)[0]


@TRANSFORMS.register_module()
class R2GroundingTargets(BaseTransform):
    """Moment targets: ``gt_windows`` ``[G, 2]`` seconds (clamped to the
    features' span, inverted windows swapped, windows shorter than a clip
    widened to one clip around their centre), ``saliency`` ``[T]`` in [0, 1]
    and a random ``pos_clip``.

    Saliency comes from the per-annotator clip scores where the dataset has
    them (QVHighlights: sum of scores / ``max_saliency``), else it is 1 on
    the clips the windows cover.

    Required keys: ``video_feat`` (``[T, ...]``), ``windows``, ``clip_len``,
    ``duration``; optional ``saliency`` + ``extra.relevant_clip_ids``.
    Added keys: ``gt_windows``, ``saliency_target``, ``pos_clip``.

    Args:
        max_saliency (float): normaliser of the summed annotator scores
            (QVHighlights: 3 annotators x 4 = 12).
    """

    def __init__(self, max_saliency: float = 12.0) -> None:
        self.max_saliency = max_saliency

    def _windows(self, info: dict, num_clips: int, fps: float) -> torch.Tensor:
        if not info['windows']:
            raise _fail(info, 'no ground-truth window to train on')
        max_time = num_clips / fps
        bnd = torch.Tensor(info['windows']).clamp(min=0, max=max_time)
        inverted = bnd[:, 1] - bnd[:, 0] < 0
        bnd[inverted] = bnd[inverted].flip(-1)
        short = (bnd[:, 1] - bnd[:, 0] < 1 / fps).nonzero()[:, 0]
        for i in short.tolist():
            center = (bnd[i].sum() / 2).clamp(
                min=0.5 / fps, max=max_time - 0.5 / fps)
            bnd[i, 0] = center - 0.5 / fps
            bnd[i, 1] = center + 0.5 / fps
        return bnd

    def _saliency(self, info: dict, bnd: torch.Tensor, num_clips: int,
                  fps: float) -> torch.Tensor:
        ids = info.get('extra', {}).get('relevant_clip_ids')
        if info.get('saliency') is not None and ids is not None:
            total = int(info['duration'] * fps)
            saliency = torch.zeros(total)
            for idx in ids:
                saliency[idx] = sum(info['saliency'][idx]) / self.max_saliency
            if not (total >= num_clips and total - num_clips < 5):
                raise _fail(
                    info, f'{total} annotated clips (duration '
                    f"{info['duration']}s) but {num_clips} feature clips")
            return saliency[:num_clips]
        saliency = torch.zeros(num_clips)
        for start, end in (bnd * fps).tolist():
            saliency[math.ceil(start):math.ceil(end)] = 1
        return saliency

    def transform(self, info: dict) -> dict:
        num_clips = info['video_feat'].shape[0]
        fps = 1.0 / info['clip_len']
        bnd = self._windows(info, num_clips, fps)
        saliency = self._saliency(info, bnd, num_clips, fps)
        info['gt_windows'] = bnd
        info['saliency_target'] = saliency
        info['pos_clip'] = _pick_positive(saliency, saliency > 0, info)
        return info


@TRANSFORMS.register_module()
class R2HighlightTargets(BaseTransform):
    """Highlight-only targets (YouTube Highlights, TVSum): ``saliency`` in
    [0, 1] per clip and a random ``pos_clip`` among the positive clips.

    - YouTube (``match`` ``[T]`` of +-1): saliency = (match + 1) / 2, T must
      equal the features' T; positives: saliency > 0.5.
    - TVSum (``anno`` ``[n, 20]`` scores 1-5): saliency = (sum - 20) / 80;
      video and labels are cut to the shorter of the two (they may differ
      by < 5 clips); positives: saliency > its (lower) median.

    Required keys: ``video_feat`` and ``match`` or ``anno``.
    Added keys: ``saliency_target``, ``pos_clip``.
    """

    def transform(self, info: dict) -> dict:
        num_clips = info['video_feat'].shape[0]
        if 'match' in info:
            saliency = (torch.Tensor(info['match']) + 1) / 2
            if saliency.size(0) != num_clips:
                raise _fail(info, f'{saliency.size(0)} labelled clips but '
                            f'{num_clips} feature clips')
            positive = saliency > 0.5
        else:
            saliency = (torch.Tensor(info['anno']).sum(dim=1) - 20) / 80
            if abs(saliency.size(0) - num_clips) >= 5:
                raise _fail(info, f'{saliency.size(0)} labelled clips but '
                            f'{num_clips} feature clips')
            num_clips = min(num_clips, saliency.size(0))
            info['video_feat'] = info['video_feat'][:num_clips]
            saliency = saliency[:num_clips]
            positive = saliency > saliency.median()
        info['saliency_target'] = saliency
        info['pos_clip'] = _pick_positive(saliency, positive, info)
        return info


_SAMPLE_KEYS = ('qid', 'source_qid', 'vid', 'query', 'duration', 'match',
                'anno')


@TRANSFORMS.register_module()
class PackR2Inputs(BaseTransform):
    """Pack features and fields into ``dict(inputs, data_samples)``.

    ``inputs``: ``video`` ``[T, k*P*Cv]`` and ``query`` ``[L, k*Cq]``
    tensors (dtype as stored, fp16 for official caches; the model pads a
    batch of them). ``data_samples``: a ``BaseDataElement`` whose metainfo
    holds ``qid``, ``source_qid`` (the id as the annotation file typed it,
    which the submission files carry), ``vid``, ``query``, ``duration``,
    ``fps`` and the ground truth in the official evaluation format
    (``relevant_windows`` as annotated, ``relevant_clip_ids`` +
    ``saliency_scores`` where present, ``match`` / ``anno`` for highlight
    datasets); when targets were built
    its data fields are ``gt_windows`` ``[G, 2]``, ``saliency`` ``[T]`` and
    ``pos_clip`` for the losses.
    """

    def transform(self, info: dict) -> dict:
        video = np.ascontiguousarray(info['video_feat'])
        query = np.ascontiguousarray(info['query_feat'])
        inputs = dict(
            video=torch.from_numpy(video.reshape(video.shape[0], -1)),
            query=torch.from_numpy(query.reshape(query.shape[0], -1)))
        meta = {k: info[k] for k in _SAMPLE_KEYS if k in info}
        if 'clip_len' in info:
            meta['fps'] = 1.0 / info['clip_len']
        if 'windows' in info:
            meta['relevant_windows'] = info['windows']
        ids = info.get('extra', {}).get('relevant_clip_ids')
        if ids is not None and info.get('saliency') is not None:
            meta['relevant_clip_ids'] = ids
            meta['saliency_scores'] = [info['saliency'][i] for i in ids]
        sample = BaseDataElement(metainfo=meta)
        if 'saliency_target' in info:
            sample.saliency = info['saliency_target']
            sample.pos_clip = info['pos_clip']
        if 'gt_windows' in info:
            sample.gt_windows = info['gt_windows']
        return dict(inputs=inputs, data_samples=sample)
