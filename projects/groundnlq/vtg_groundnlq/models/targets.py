"""Points, label assignment and losses of GroundNLQ / ActionFormer.

- points: every position of every pyramid level, ``[t, reg_min, reg_max,
  stride]`` with ``t`` on the level-0 grid (``PointGenerator``);
- assignment (``label_points_single_video``): a point is positive for a GT
  window when it lies within ``radius * stride`` of the window centre (and
  inside the window) and its largest distance to a boundary falls inside the
  level's regression range; ties go to the shortest window;
- losses: sigmoid focal loss (Lin et al., ICCV 2017) with label smoothing and
  1-D centre DIoU loss (Zheng et al., AAAI 2020), both summed and divided by
  an EMA of the positive count.

Reference: ``libs/modeling/{meta_archs,losses,loc_generators}.py`` of
github.com/houzhijian/GroundNLQ.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def make_points(lengths: Sequence[int],
                strides: Sequence[int],
                reg_ranges: Sequence[Sequence[float]],
                device=None) -> List[Tensor]:
    """Points per level, ``[T_l, 4]`` float32 ``(t, reg_min, reg_max,
    stride)`` with ``t = i * stride``."""
    points = []
    for n, s, (lo, hi) in zip(lengths, strides, reg_ranges):
        t = torch.arange(n, device=device, dtype=torch.float32) * s
        pts = torch.stack([
            t,
            t.new_full((n, ), lo),
            t.new_full((n, ), hi),
            t.new_full((n, ), s)
        ],
                          dim=1)
        points.append(pts)
    return points


@torch.no_grad()
def assign_single(points: Tensor, gt_segs: Tensor, gt_onehot: Tensor,
                  center_sample: str, radius: float) -> Tuple[Tensor, Tensor]:
    """Targets of one clip.

    Args:
        points (Tensor): ``[P, 4]`` concatenated points of all levels.
        gt_segs (Tensor): ``[N, 2]`` GT windows on the feature grid
            (float64 like the official dataset).
        gt_onehot (Tensor): ``[N, C]`` one-hot labels.
        center_sample (str): ``'radius'`` or ``'none'``.
        radius (float): centre-sampling radius in strides.

    Returns:
        tuple[Tensor]: ``[P, C]`` classification targets and ``[P, 2]``
        regression targets (distances / stride), in ``gt_segs``' dtype.
    """
    n_pts, n_gt = points.shape[0], gt_segs.shape[0]
    if n_gt == 0:
        return (gt_segs.new_zeros(n_pts, gt_onehot.shape[-1]),
                gt_segs.new_zeros(n_pts, 2))
    t = points[:, 0, None]
    stride = points[:, 3, None]
    starts, ends = gt_segs[None, :, 0], gt_segs[None, :, 1]
    reg = torch.stack((t - starts, ends - t), dim=-1)  # P, N, 2
    if center_sample == 'radius':
        center = 0.5 * (starts + ends)
        lo = torch.maximum(center - stride * radius, starts)
        hi = torch.minimum(center + stride * radius, ends)
        inside = torch.minimum(t - lo, hi - t) > 0
    else:
        inside = reg.min(-1)[0] > 0
    max_dist = reg.max(-1)[0]
    in_range = (max_dist >= points[:, 1, None]) & (
        max_dist <= points[:, 2, None])
    lens = (ends - starts).expand(n_pts, n_gt)
    lens = lens.masked_fill(~(inside & in_range), float('inf'))
    min_len, min_idx = lens.min(dim=1)
    match = ((lens <= min_len[:, None] + 1e-3) & (lens < float('inf'))).to(
        reg.dtype)
    cls_t = (match @ gt_onehot.to(reg.dtype)).clamp_(0.0, 1.0)
    reg_t = reg[torch.arange(n_pts), min_idx] / stride
    return cls_t, reg_t


def sigmoid_focal_loss(logits: Tensor,
                       targets: Tensor,
                       alpha: float = 0.25,
                       gamma: float = 2.0) -> Tensor:
    """Summed sigmoid focal loss (fvcore's formulation), float32."""
    logits, targets = logits.float(), targets.float()
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t)**gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.sum()


def ctr_diou_loss_1d(pred: Tensor,
                     target: Tensor,
                     eps: float = 1e-8) -> Tensor:
    """Summed 1-D DIoU loss between centre-offset pairs ``[N, 2]``
    ``(left, right)``, both non-negative."""
    pred, target = pred.float(), target.float()
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    inter = torch.min(rp, rg) + torch.min(lp, lg)
    union = (lp + rp) + (lg + rg) - inter
    iou = inter / union.clamp(min=eps)
    enclose = torch.max(lp, lg) + torch.max(rp, rg)
    rho = 0.5 * (rp - lp - rg + lg)
    return (1.0 - iou + torch.square(rho / enclose.clamp(min=eps))).sum()
