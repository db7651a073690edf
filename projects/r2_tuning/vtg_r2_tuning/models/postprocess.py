"""R²-Tuning's inference post-processing of predicted windows.

``Grounding.evaluate`` of the official code (Liu et al., arXiv 2404.00801;
github.com/yeliudev/R2-Tuning, datasets/grounding.py): clamp, rounding to a
time unit, a *sequential* NMS that never drops a row, and a final re-sort.
:func:`merge_window_candidates` applies it to the candidates of several
overlapping windows of one video (the model's ``merge_candidates``).
"""
from typing import Optional

import torch
from torch import Tensor

from vtg_plugins.models.segment_ops import segment_iou

__all__ = ['r2_postprocess', 'merge_window_candidates']

_NMS_TYPES = ('normal', 'linear', 'gaussian')


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


def r2_postprocess(
    windows: Tensor,
    duration: float,
    unit: Optional[float] = None,
    nms_cfg: Optional[dict] = dict(type='normal', thres=0.7)
) -> Tensor:
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
            score[rest] = score[rest].masked_fill(row_iou >= nms_cfg['thres'],
                                                  0)
        elif kind == 'linear':
            score[rest] = score[rest] * (1 - row_iou)
        else:
            score[rest] = score[rest] * (-row_iou.pow(2) /
                                         nms_cfg['sigma']).exp()
    bnd = bnd[perm]
    bnd[:, 2] = score[perm]
    _, order = bnd[:, 2].sort(descending=True)
    return bnd[order]


def merge_window_candidates(
    windows: Tensor,
    duration: float,
    max_num_moment: int,
    unit: Optional[float] = None,
    nms_cfg: Optional[dict] = dict(type='normal', thres=0.7)
) -> Tensor:
    """Post-process the candidates of several windows of one video.

    The rows of all windows (already in video time) compete as the points
    of one window do: the ``max_num_moment`` best by score (a stable sort,
    so rows of equal score keep their window order) go through
    :func:`r2_postprocess`. For the candidates of a single window (already
    sorted and truncated by the model) this is the model's ``predict``.

    Args:
        windows (Tensor): ``[N, 3]`` rows ``(start_s, end_s, score)``.
        duration (float): video duration (s).
        max_num_moment (int): rows kept before NMS.
        unit, nms_cfg: see :func:`r2_postprocess`.

    Returns:
        Tensor: ``[min(N, max_num_moment), 3]`` rows, best first.
    """
    rows = windows.detach().cpu()
    order = rows[:, 2].sort(descending=True, stable=True)[1]
    return r2_postprocess(rows[order[:max_num_moment]], float(duration), unit,
                          nms_cfg)
