"""1-D temporal NMS of ActionFormer / GroundNLQ, in torch.

A faithful port of the ``nms_1d_cpu`` C++ extension
(``libs/utils/csrc/nms_cpu.cpp`` in
github.com/happyharrycn/actionformer_release and
github.com/houzhijian/GroundNLQ) and of ``batched_nms`` / ``seg_voting`` in
their ``libs/utils/nms.py``. Same float32 arithmetic (segment areas carry
``+1e-6``), same selection order and tie-breaking:

- hard NMS visits the segments in ``scores.sort(descending=True)`` order and
  drops every later one whose IoU with a kept segment is ``>= iou_threshold``;
- soft NMS repeatedly picks the first maximum among the remaining segments,
  swaps it to the front, decays the scores of the rest and removes those that
  fall below ``min_score`` by swapping the last remaining segment into their
  slot (this swap order decides later ties, so it is reproduced exactly).

Unlike the C++ op, both stop after ``max_num`` selections: the first
``max_num`` selections do not depend on later ones, so the truncated output
is the same while the work drops from ``O(N^2)`` to ``O(max_num * N)``.
"""
from typing import Tuple

import torch
from torch import Tensor

__all__ = ['nms_1d', 'soft_nms_1d', 'batched_nms_1d', 'seg_voting']

_SOFT_METHODS = {'hard': 0, 'linear': 1, 'gaussian': 2}


def _overlap(x1: Tensor, x2: Tensor, area: Tensor, ix1: Tensor, ix2: Tensor,
             iarea: Tensor) -> Tensor:
    """IoU of one segment with many, as ``nms_cpu.cpp`` computes it."""
    inter = (torch.minimum(x2, ix2) - torch.maximum(x1, ix1)).clamp(min=0)
    return inter / (iarea + area - inter)


def nms_1d(segs: Tensor,
           scores: Tensor,
           iou_threshold: float,
           max_num: int = -1) -> Tensor:
    """Greedy hard NMS (``nms_1d_cpu.nms``).

    Args:
        segs (Tensor): ``[N, 2]`` float32 segments ``(start, end)``.
        scores (Tensor): ``[N]`` float32 scores.
        iou_threshold (float): a segment is dropped when its IoU with a kept
            one is ``>= iou_threshold``.
        max_num (int): stop after this many kept segments; ``<= 0`` keeps all.

    Returns:
        Tensor: ``[K]`` int64 indices of the kept segments, by descending
        score.
    """
    segs, scores = segs.float(), scores.float()
    order = scores.sort(0, descending=True)[1]
    x1, x2 = segs[order, 0], segs[order, 1]
    area = x2 - x1 + 1e-6
    alive = torch.ones(order.numel(), dtype=torch.bool)
    kept = []
    pos = 0
    while pos < order.numel():
        kept.append(pos)
        if 0 < max_num <= len(kept):
            break
        ovr = _overlap(x1[pos + 1:], x2[pos + 1:], area[pos + 1:], x1[pos],
                       x2[pos], area[pos])
        alive[pos + 1:] &= ovr < iou_threshold
        nxt = alive[pos + 1:].nonzero()
        if nxt.numel() == 0:
            break
        pos += 1 + int(nxt[0])
    return order[torch.as_tensor(kept, dtype=torch.long)]


def soft_nms_1d(segs: Tensor,
                scores: Tensor,
                iou_threshold: float,
                sigma: float,
                min_score: float,
                method: str = 'gaussian',
                max_num: int = -1) -> Tuple[Tensor, Tensor, Tensor]:
    """Soft NMS (``nms_1d_cpu.softnms``), Bodla et al., ICCV 2017.

    Args:
        segs (Tensor): ``[N, 2]`` float32 segments.
        scores (Tensor): ``[N]`` float32 scores.
        iou_threshold (float): used by the ``hard`` and ``linear`` decays.
        sigma (float): Gaussian decay ``exp(-iou^2 / sigma)``.
        min_score (float): remaining segments whose decayed score is below
            this are discarded.
        method (str): ``'gaussian'`` (GroundNLQ), ``'linear'`` or ``'hard'``.
        max_num (int): number of selections to make; ``<= 0`` runs to the end.

    Returns:
        tuple[Tensor]: selected ``[K, 2]`` segments, their decayed ``[K]``
        scores (non-increasing) and ``[K]`` int64 input indices.
    """
    if method not in _SOFT_METHODS:
        raise ValueError(f'soft NMS method must be one of '
                         f'{sorted(_SOFT_METHODS)}, got {method!r}')
    x1 = segs[:, 0].float().clone()
    x2 = segs[:, 1].float().clone()
    sc = scores.float().clone()
    area = x2 - x1 + 1e-6
    inds = torch.arange(segs.shape[0])
    cols = [x1, x2, sc, area, inds]
    n = segs.shape[0]
    limit = n if max_num <= 0 else min(n, max_num)
    i = 0
    while i < n and i < limit:
        j = i + int(torch.argmax(sc[i:n]))  # first maximum, as the C++ loop
        if j != i:
            for col in cols:
                col[[i, j]] = col[[j, i]]
        rest = slice(i + 1, n)
        ovr = _overlap(x1[rest], x2[rest], area[rest], x1[i], x2[i], area[i])
        if method == 'gaussian':
            weight = torch.exp(-(ovr * ovr) / sigma)
        elif method == 'linear':
            weight = torch.where(ovr >= iou_threshold, 1 - ovr,
                                 torch.ones_like(ovr))
        else:
            weight = (ovr < iou_threshold).float()
        sc[rest] *= weight
        keep = sc[rest] >= min_score
        n_keep = int(keep.sum())
        if n_keep < keep.numel():
            # C++ fills each dropped slot (left to right) with the last
            # remaining segment; net effect: holes before n_keep receive the
            # survivors after n_keep, taken from the right.
            order = torch.arange(n_keep)
            holes = (~keep[:n_keep]).nonzero()[:, 0]
            donors = n_keep + keep[n_keep:].nonzero()[:, 0]
            order[holes] = donors.flip(0)
            for col in cols:
                col[i + 1:i + 1 + n_keep] = col[rest][order]
            n = i + 1 + n_keep
        i += 1
    k = i
    return torch.stack((x1[:k], x2[:k]), dim=1), sc[:k].clone(), inds[:k]


def seg_voting(nms_segs: Tensor,
               all_segs: Tensor,
               all_scores: Tensor,
               iou_threshold: float,
               score_offset: float = 1.5) -> Tensor:
    """Refine NMS outputs by averaging overlapping candidates.

    Each output segment becomes the average of all candidates whose IoU with
    it is ``>= iou_threshold``, weighted by ``score * iou`` (ActionFormer's
    ``seg_voting``; ``score_offset`` is accepted there but unused).

    Args:
        nms_segs (Tensor): ``[K, 2]`` segments after NMS.
        all_segs (Tensor): ``[N, 2]`` candidates before NMS.
        all_scores (Tensor): ``[N]`` their scores.
        iou_threshold (float): neighbourhood IoU.
        score_offset (float): unused, kept for signature parity.

    Returns:
        Tensor: ``[K, 2]`` refined segments.
    """
    left = torch.maximum(nms_segs[:, None, 0], all_segs[None, :, 0])
    right = torch.minimum(nms_segs[:, None, 1], all_segs[None, :, 1])
    inter = (right - left).clamp(min=0)
    len_nms = nms_segs[:, 1] - nms_segs[:, 0]
    len_all = all_segs[:, 1] - all_segs[:, 0]
    iou = inter / (len_nms[:, None] + len_all[None, :] - inter)
    weights = (iou >= iou_threshold).to(all_scores.dtype) \
        * all_scores[None, :] * iou
    weights = weights / weights.sum(dim=1, keepdim=True)
    return weights @ all_segs


def batched_nms_1d(
        segs: Tensor,
        scores: Tensor,
        labels: Tensor,
        iou_threshold: float,
        min_score: float,
        max_seg_num: int,
        use_soft_nms: bool = True,
        multiclass: bool = True,
        sigma: float = 0.5,
        voting_thresh: float = 0.75) -> Tuple[Tensor, Tensor, Tensor]:
    """ActionFormer's ``batched_nms`` for one video.

    Multiclass: NMS per class (classes in ascending order), results
    concatenated; class-agnostic: one NMS plus optional ``seg_voting``
    (``voting_thresh > 0``). Finally sorted by descending score (stable sort)
    and truncated to ``max_seg_num``.

    Args:
        segs (Tensor): ``[N, 2]`` candidate segments.
        scores (Tensor): ``[N]`` candidate scores.
        labels (Tensor): ``[N]`` int64 class indices.
        iou_threshold (float): hard / linear NMS threshold.
        min_score (float): score floor (soft NMS discards, hard NMS filters
            ``scores > min_score`` first).
        max_seg_num (int): outputs per video.
        use_soft_nms (bool): Gaussian soft NMS (True) or hard NMS.
        multiclass (bool): per-class NMS.
        sigma (float): Gaussian sigma.
        voting_thresh (float): class-agnostic segment voting IoU.

    Returns:
        tuple[Tensor]: ``[K, 2]`` segments, ``[K]`` scores, ``[K]`` labels.
    """
    if segs.shape[0] == 0:
        return (torch.zeros(0, 2), torch.zeros(0),
                torch.zeros(0, dtype=labels.dtype))

    def run(sel: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        s, sc, lb = segs[sel].float(), scores[sel].float(), labels[sel]
        if use_soft_nms:
            out_segs, out_sc, idx = soft_nms_1d(s, sc, iou_threshold, sigma,
                                                min_score, 'gaussian',
                                                max_seg_num)
            return out_segs, out_sc, lb[idx]
        if min_score > 0:
            valid = sc > min_score
            s, sc, lb = s[valid], sc[valid], lb[valid]
        idx = nms_1d(s, sc, iou_threshold, max_seg_num)
        return s[idx], sc[idx], lb[idx]

    if multiclass:
        parts = [
            run(torch.where(labels == c)[0]) for c in torch.unique(labels)
        ]
        new_segs, new_scores, new_labels = (torch.cat(p) for p in zip(*parts))
    else:
        new_segs, new_scores, new_labels = run(torch.arange(segs.shape[0]))
        if voting_thresh > 0:
            new_segs = seg_voting(new_segs, segs.float(), scores.float(),
                                  voting_thresh)
    order = new_scores.sort(descending=True, stable=True)[1][:max_seg_num]
    return new_segs[order], new_scores[order], new_labels[order]
