"""GroundNLQ inference decoding: pre-NMS candidates and seconds.

``inference_single_video`` and ``postprocessing`` of
github.com/houzhijian/GroundNLQ ``libs/modeling/meta_archs.py``.

Time conversion. The dataset maps GT seconds to the feature grid as
``sec * fps / feat_stride`` (training), while inference maps back with
``(grid * feat_stride + 0.5 * feat_num_frames) / fps``: predictions are
shifted by half a feature window (0.267 s for Ego4D's 16.043-frame
features at 30 fps) relative to the training targets. The official numbers
include this shift, so it is the default; ``half_frame_offset=False`` makes
the two directions inverse of each other.
"""
from typing import Dict, List, Optional

import torch
from torch import Tensor


@torch.no_grad()
def candidates_single(points: List[Tensor], masks: List[Tensor],
                      cls_logits: List[Tensor], offsets: List[Tensor],
                      pre_nms_thresh: float, pre_nms_topk: int,
                      duration_thresh: float) -> Dict[str, Tensor]:
    """Pre-NMS candidates of one clip.

    Per level: ``sigmoid(logit) * mask``, keep ``> pre_nms_thresh``, the top
    ``pre_nms_topk`` by ``Tensor.sort(descending=True)`` (the official call,
    so equal scores keep its order), decode ``t -/+ offset * stride`` and
    keep segments longer than ``duration_thresh`` grid units.

    Args:
        points (list[Tensor]): per level ``[T_l, 4]``.
        masks (list[Tensor]): per level ``[T_l]`` bool.
        cls_logits (list[Tensor]): per level ``[T_l, C]``.
        offsets (list[Tensor]): per level ``[T_l, 2]``.

    Returns:
        dict: ``segments [K, 2]`` (feature grid), ``scores [K]``,
        ``labels [K]`` int64, levels concatenated in order.
    """
    segs_all, scores_all, labels_all = [], [], []
    for pts, mask, logit, off in zip(points, masks, cls_logits, offsets):
        num_classes = logit.shape[-1]
        prob = (logit.sigmoid() * mask[:, None]).flatten()
        keep = prob > pre_nms_thresh
        prob = prob[keep]
        flat_idx = keep.nonzero(as_tuple=True)[0]
        prob, order = prob.sort(descending=True)
        prob = prob[:pre_nms_topk]
        flat_idx = flat_idx[order[:pre_nms_topk]]
        pt_idx = torch.div(flat_idx, num_classes, rounding_mode='floor')
        labels = torch.fmod(flat_idx, num_classes)
        off, pts = off[pt_idx], pts[pt_idx]
        left = pts[:, 0] - off[:, 0] * pts[:, 3]
        right = pts[:, 0] + off[:, 1] * pts[:, 3]
        long_enough = (right - left) > duration_thresh
        segs_all.append(torch.stack((left, right), -1)[long_enough])
        scores_all.append(prob[long_enough])
        labels_all.append(labels[long_enough])
    return dict(
        segments=torch.cat(segs_all),
        scores=torch.cat(scores_all),
        labels=torch.cat(labels_all))


def grid_to_seconds(segs: Tensor,
                    fps: float,
                    feat_stride: float,
                    feat_num_frames: float,
                    duration: Optional[float],
                    half_frame_offset: bool = True) -> Tensor:
    """Feature-grid segments ``[K, 2]`` to seconds, clamped to
    ``[0, duration]`` (not clamped for ``duration=None``; see the module
    docstring for the offset)."""
    frames = segs * feat_stride
    if half_frame_offset:
        frames = frames + 0.5 * feat_num_frames
    if duration is None:
        return frames / fps
    return (frames / fps).clamp(min=0.0, max=duration)


def seconds_to_grid(windows: Tensor, fps: float, feat_stride: float) -> Tensor:
    """GT seconds ``[N, 2]`` to the feature grid as the official dataset:
    ``(sec * fps) / feat_stride`` in float64."""
    return (windows.double() * fps) / feat_stride
