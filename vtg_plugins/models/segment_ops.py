"""1-D temporal segment operations shared by the grounding methods.

Windows are ``[..., 2]`` tensors in ``(start, end)`` order, in any unit
(seconds or clips) as long as both operands use the same one.

:func:`r2_postprocess` is the inference post-processing of R²-Tuning
(Liu et al., arXiv 2404.00801; ``Grounding.evaluate`` in
github.com/yeliudev/R2-Tuning, datasets/grounding.py): clamp, rounding to a
time unit, a *sequential* NMS that never drops a row, and a final re-sort.
"""
from typing import Optional

import torch
from torch import Tensor

__all__ = ['segment_iou', 'r2_postprocess']

_NMS_TYPES = ('normal', 'linear', 'gaussian')


def segment_iou(windows1: Tensor, windows2: Tensor) -> Tensor:
    """Pairwise IoU of two sets of 1-D windows.

    Same arithmetic as ``nncore.ops.temporal_iou``: the intersection is
    clamped at 0, the union is ``len1 + len2 - inter``. Two zero-length
    windows give ``0 / 0 = nan`` (kept, the R²-Tuning NMS depends on it).

    Args:
        windows1 (Tensor): ``[N, 2]`` windows.
        windows2 (Tensor): ``[M, 2]`` windows.

    Returns:
        Tensor: ``[N, M]`` IoU values.
    """
    area1 = windows1[:, 1] - windows1[:, 0]
    area2 = windows2[:, 1] - windows2[:, 0]
    start = torch.max(windows1[:, None, 0], windows2[:, 0])
    end = torch.min(windows1[:, None, 1], windows2[:, 1])
    inter = (end - start).clamp(0)
    return inter / (area1[:, None] + area2 - inter)


def _check_nms_cfg(nms_cfg: Optional[dict]) -> None:
    if nms_cfg is None:
        return
    if nms_cfg.get('type') not in _NMS_TYPES:
        raise ValueError(f'nms_cfg type must be one of {_NMS_TYPES}, '
                         f'got {nms_cfg!r}')
    if nms_cfg['type'] == 'normal' and 'thres' not in nms_cfg:
        raise ValueError(f"normal NMS needs 'thres', got {nms_cfg!r}")
    if nms_cfg['type'] == 'gaussian' and 'sigma' not in nms_cfg:
        raise ValueError(f"gaussian NMS needs 'sigma', got {nms_cfg!r}")


def r2_postprocess(windows: Tensor,
                   duration: float,
                   unit: Optional[float] = None,
                   nms_cfg: Optional[dict] = dict(type='normal',
                                                  thres=0.7)) -> Tensor:
    """R²-Tuning post-processing of one query's predicted windows.

    Steps, in the official order:

    1. rows whose *original* end is ``< duration`` are marked;
    2. start/end are clamped to ``[0, duration]``;
    3. if ``unit > 0``, the marked rows are rounded to multiples of ``unit``
       (``torch.round``, half to even, in the input dtype);
    4. sequential NMS: for ``i = 0..N-1`` the row with the highest remaining
       score (first on ties, NaN counts as highest like ``torch.argmax``) is
       swapped into position ``i`` and every later row's score is decayed by
       its IoU with row ``i`` (``normal``: set to 0 when IoU >= thres;
       ``linear``: ``*= 1 - IoU``; ``gaussian``: ``*= exp(-IoU^2 / sigma)``).
       No row is ever dropped;
    5. the rows are re-sorted with ``Tensor.sort(descending=True)``, torch's
       default (unstable) sort, exactly like the official code.

    Windows never move during NMS, so the IoU matrix is computed once; the
    loop only permutes indices and rescales an ``[N]`` score vector.

    Args:
        windows (Tensor): ``[N, 3]`` rows ``(start, end, score)``; not
            modified.
        duration (float): video duration, same unit as the windows.
        unit (float, optional): rounding unit; ``None`` or ``<= 0``
            disables rounding.
        nms_cfg (dict, optional): ``dict(type='normal', thres=0.7)``,
            ``dict(type='linear')`` or ``dict(type='gaussian', sigma=...)``;
            ``None`` skips steps 4 and 5.

    Returns:
        Tensor: ``[N, 3]`` post-processed rows.
    """
    if windows.dim() != 2 or windows.size(1) != 3:
        raise ValueError('windows must be [N, 3] (start, end, score), got '
                         f'shape {tuple(windows.shape)}')
    _check_nms_cfg(nms_cfg)
    bnd = windows.clone()
    keep_unit = bnd[:, 1] < duration
    bnd[:, :2] = bnd[:, :2].clamp(min=0, max=duration)
    if unit is not None and unit > 0:
        bnd[keep_unit, :2] = torch.round(bnd[keep_unit, :2] / unit) * unit
    if nms_cfg is None or bnd.size(0) == 0:
        return bnd

    iou = segment_iou(bnd[:, :2], bnd[:, :2])
    score = bnd[:, 2].clone()
    perm = torch.arange(bnd.size(0))
    kind = nms_cfg['type']
    for i in range(bnd.size(0)):
        j = i + int(score[perm[i:]].argmax())
        perm[[i, j]] = perm[[j, i]]
        rest = perm[i + 1:]
        if rest.numel() == 0:
            break
        row_iou = iou[perm[i], rest]
        if kind == 'normal':
            score[rest] = score[rest].masked_fill(
                row_iou >= nms_cfg['thres'], 0)
        elif kind == 'linear':
            score[rest] = score[rest] * (1 - row_iou)
        else:
            score[rest] = score[rest] * (-row_iou.pow(2) /
                                         nms_cfg['sigma']).exp()
    bnd = bnd[perm]
    bnd[:, 2] = score[perm]
    _, order = bnd[:, 2].sort(descending=True)
    return bnd[order]

