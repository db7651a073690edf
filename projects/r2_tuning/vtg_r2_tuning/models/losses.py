"""The five R²-Tuning losses (``BundleLoss`` of github.com/yeliudev/R2-Tuning,
models/loss.py, with nncore 0.4.4's FocalLoss, L1Loss, InfoNCELoss and
DynamicBCELoss), batched over padded tensors."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def fcos_targets(points: Tensor, windows: Tensor,
                 sample_radius: float = 1.5) -> Tuple[Tensor, Tensor]:
    """FCOS-style point targets for one sample (official
    ``get_target_single``).

    A point is positive when it lies in the centre region
    ``[c - r*s, c + r*s]`` of a GT window (intersected with the window) and
    its largest distance to the window ends falls in the level's regression
    range. The shortest qualifying window wins; windows within 1e-3 of the
    shortest are OR-ed for the class target.

    Args:
        points (Tensor): ``[N, 4]`` rows ``(t, reg_lo, reg_hi, stride)``.
        windows (Tensor): ``[G, 2]`` GT windows in clips.

    Returns:
        tuple: class target ``[N]`` and regression target ``[N, 2]``
        (distances to start/end in stride units).
    """
    t, s = points[:, 0, None], points[:, 3, None]
    lens = (windows[:, 1] - windows[:, 0])[None].repeat(points.size(0), 1)
    r_tgt = torch.stack((t - windows[None, :, 0], windows[None, :, 1] - t),
                        dim=-1)  # N G 2
    if sample_radius > 0:
        center = (windows[:, 0] + windows[:, 1]) / 2
        lo = torch.maximum(center - s * sample_radius, windows[None, :, 0])
        hi = torch.minimum(center + s * sample_radius, windows[None, :, 1])
        cls_msk = torch.minimum(t - lo, hi - t) >= 0
    else:
        cls_msk = r_tgt.min(-1)[0] >= 0
    reg_dist = r_tgt.max(-1)[0]
    reg_msk = (reg_dist >= points[:, 1, None]) & (reg_dist <= points[:, 2,
                                                                      None])
    lens = lens.masked_fill(~(cls_msk & reg_msk), float('inf'))
    min_len, min_idx = lens.min(dim=1)
    hit = (lens <= min_len[:, None] + 1e-3) & (lens < float('inf'))
    c_tgt = hit.any(1).to(r_tgt.dtype)
    r_tgt = r_tgt[torch.arange(points.size(0)), min_idx] / s
    return c_tgt, r_tgt


def focal_loss(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Element-wise sigmoid focal loss without alpha (nncore)."""
    p = pred.sigmoid()
    ce = F.binary_cross_entropy_with_logits(pred, target, reduction='none')
    p_t = p * target + (1 - p) * (1 - target)
    return ce * (1 - p_t)**gamma


def infonce_loss(a: Tensor, b: Tensor, temperature: float = 0.07,
                 max_scale: float = 100.) -> Tensor:
    """Symmetric InfoNCE over the last two dims (nncore ``infonce_loss``):
    rows of ``a`` match the same rows of ``b``.

    Args:
        a, b (Tensor): ``[..., N, C]``.
    """
    a = F.normalize(a, dim=-1)
    b = F.normalize(b, dim=-1)
    scale = a.new_tensor([math.log(1 / temperature)]).exp().clamp(
        max=max_scale)
    n = a.size(-2)
    a_sim = torch.matmul(a, b.transpose(-1, -2)) * scale
    b_sim = a_sim.transpose(-1, -2).reshape(-1, n)
    target = torch.arange(n, device=a.device).repeat(a_sim.numel() // n // n)
    a_loss = F.cross_entropy(a_sim.reshape(-1, n), target)
    b_loss = F.cross_entropy(b_sim, target)
    return (a_loss + b_loss) / 2


class R2Loss(nn.Module):
    """All R²-Tuning loss terms with the official weights.

    Args:
        cls_loss (str): ``'focal'`` (grounding) or ``'dynamic_bce'``
            (YouTube Highlights / TVSum, soft saliency targets).
        use_reg (bool): L1 boundary regression (needs the coord head).
        sample_radius (float): FCOS centre-sampling radius.
        loss_weights (dict): weights of ``loss_cls``, ``loss_reg``,
            ``loss_sal``, ``loss_video_cal``, ``loss_layer_cal``; a weight of
            ``None`` disables the term.
        sal_direction (Sequence[str]): SampledNCE directions, ``'row'`` and/or
            ``'col'``.
        temperature (float): SampledNCE / InfoNCE temperature.
        max_scale (float): logit-scale clamp.
    """

    def __init__(self,
                 cls_loss: str = 'focal',
                 use_reg: bool = True,
                 sample_radius: float = 1.5,
                 loss_weights: Optional[dict] = None,
                 sal_direction: Sequence[str] = ('row', 'col'),
                 temperature: float = 0.07,
                 max_scale: float = 100.) -> None:
        super().__init__()
        if cls_loss not in ('focal', 'dynamic_bce'):
            raise ValueError(f"cls_loss must be 'focal' or 'dynamic_bce', "
                             f'got {cls_loss!r}')
        weights = dict(loss_cls=1.0, loss_reg=0.2, loss_sal=0.1,
                       loss_video_cal=0.1, loss_layer_cal=0.1)
        weights.update(loss_weights or {})
        if not use_reg:
            weights['loss_reg'] = None
        self.weights = weights
        self.cls_loss = cls_loss
        self.sample_radius = sample_radius
        self.sal_direction = tuple(sal_direction)
        self.temperature = temperature
        self.max_scale = max_scale
        self.register_buffer('sal_scale',
                             torch.tensor([math.log(1 / temperature)]))

    def _on(self, name: str) -> bool:
        return self.weights.get(name) is not None

    def targets(self, points: Tensor,
                windows: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """Stacked :func:`fcos_targets` (windows in clips, per sample)."""
        out = [fcos_targets(points, w, self.sample_radius) for w in windows]
        return (torch.stack([c for c, _ in out]),
                torch.stack([r for _, r in out]))

    def sampled_nce(self, video_emb: Tensor, query_emb: Tensor,
                    video_mask: Tensor, saliency: Tensor,
                    pos_clip: Tensor) -> Tensor:
        """SampledNCE: the positive clip against clips no more salient than
        it, over time (``row``) and over the batch (``col``)."""
        idx = torch.arange(video_emb.size(0), device=video_emb.device)
        pos = saliency[idx, pos_clip].unsqueeze(-1)
        keep = (saliency <= pos) & video_mask
        scale = self.sal_scale.exp().clamp(max=self.max_scale)
        sim = F.cosine_similarity(video_emb, query_emb, dim=-1) * scale
        sim = sim.masked_fill(~keep, float('-inf'))
        loss = sim.new_zeros(())
        if 'row' in self.sal_direction:
            met = F.log_softmax(sim, 1)[idx, pos_clip]
            loss = loss - met.sum() / met.size(0)
        if 'col' in self.sal_direction:
            met = F.log_softmax(sim.t(), 1)[pos_clip, idx]
            loss = loss - met.sum() / met.size(0)
        return loss

    def forward(self, out: Dict[str, Tensor], windows: Optional[List[Tensor]],
                saliency: Tensor, pos_clip: Tensor) -> Dict[str, Tensor]:
        """
        Args:
            out (dict): model tensors: ``out_class`` ``[B, N, 1]``,
                ``out_coord`` ``[B, N, 2]`` or None, ``point`` ``[N, 4]``,
                ``pymid_msk`` (per-level ``[B, N_l]``), ``video_emb``
                ``[B, T, C]``, ``query_emb`` ``[B, 1, C]``, ``video_msk``
                ``[B, T]``, ``coll_v`` (k x ``[B, T, C]``), ``coll_q``
                (k x ``[B, 1, C]``).
            windows (list[Tensor], optional): per sample ``[G, 2]`` GT
                windows in clips (needed with regression).
            saliency (Tensor): ``[B, T]`` clip saliency targets (0 at pads).
            pos_clip (Tensor): ``[B]`` sampled positive clip.

        Returns:
            dict: the enabled ``loss_*`` terms (0-d tensors).
        """
        losses = {}
        w = self.weights
        msk = torch.cat(out['pymid_msk'], dim=1)
        logits = out['out_class'].squeeze(-1)
        if self._on('loss_reg'):
            cls_tgt, reg_tgt = self.targets(out['point'], windows)
            pos = cls_tgt.unsqueeze(2).repeat(1, 1, 2)
            l1 = (out['out_coord'] - reg_tgt).abs() * pos
            losses['loss_reg'] = l1.sum() / pos.sum() * w['loss_reg']
        else:
            cls_tgt = saliency
        if self._on('loss_cls'):
            if self.cls_loss == 'focal':
                cls = focal_loss(logits, cls_tgt) * msk
                cls = cls.sum() / msk.sum()
            else:
                cls = F.binary_cross_entropy_with_logits(
                    logits, cls_tgt, weight=msk.to(logits.dtype),
                    reduction='sum') / msk.sum()
            losses['loss_cls'] = cls * w['loss_cls']
        if self._on('loss_sal'):
            losses['loss_sal'] = self.sampled_nce(
                out['video_emb'], out['query_emb'], out['video_msk'] > 0,
                saliency, pos_clip) * w['loss_sal']
        idx = torch.arange(pos_clip.size(0), device=pos_clip.device)
        v_pos = torch.stack([v[idx, pos_clip] for v in out['coll_v']])
        q_pos = torch.stack([q[:, 0] for q in out['coll_q']])  # k B C
        if self._on('loss_video_cal'):
            losses['loss_video_cal'] = infonce_loss(
                v_pos, q_pos, self.temperature,
                self.max_scale) * w['loss_video_cal']
        if self._on('loss_layer_cal'):
            losses['loss_layer_cal'] = infonce_loss(
                v_pos.transpose(0, 1), q_pos.transpose(0, 1),
                self.temperature, self.max_scale) * w['loss_layer_cal']
        return losses
