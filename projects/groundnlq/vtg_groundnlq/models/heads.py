"""Shared classification / regression heads over the pyramid
(``PtTransformerClsHead`` / ``PtTransformerRegHead`` of ActionFormer and
github.com/houzhijian/GroundNLQ ``libs/modeling/meta_archs.py``)."""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import LayerNorm, MaskedConv1D, Scale, prior_bias


class _ConvTower(nn.Module):
    """``num_layers - 1`` x (masked conv -> LayerNorm -> ReLU)."""

    def __init__(self, in_dim: int, feat_dim: int, num_layers: int,
                 kernel_size: int, with_ln: bool) -> None:
        super().__init__()
        self.head = nn.ModuleList()
        self.norm = nn.ModuleList()
        for i in range(num_layers - 1):
            self.head.append(
                MaskedConv1D(
                    in_dim if i == 0 else feat_dim,
                    feat_dim,
                    kernel_size,
                    bias=not with_ln))
            self.norm.append(LayerNorm(feat_dim) if with_ln else nn.Identity())

    def tower(self, x: Tensor, mask: Tensor) -> Tensor:
        for conv, norm in zip(self.head, self.norm):
            x, _ = conv(x, mask)
            x = torch.relu(norm(x))
        return x


class ClsHead(_ConvTower):
    """Per-level logits ``[B, T_l, num_classes]`` (bias initialised to the
    ``prior_prob`` prior, Lin et al. 2017; ``empty_cls`` get ``1e-6``)."""

    def __init__(self,
                 in_dim: int,
                 feat_dim: int,
                 num_classes: int,
                 prior_prob: float = 0.01,
                 num_layers: int = 3,
                 kernel_size: int = 3,
                 with_ln: bool = True,
                 empty_cls: tuple = ()) -> None:
        super().__init__(in_dim, feat_dim, num_layers, kernel_size, with_ln)
        self.cls_head = MaskedConv1D(feat_dim, num_classes, kernel_size)
        nn.init.constant_(self.cls_head.conv.bias, prior_bias(prior_prob))
        for idx in empty_cls:
            nn.init.constant_(self.cls_head.conv.bias[idx], prior_bias(1e-6))

    def forward(self, feats: List[Tensor],
                masks: List[Tensor]) -> List[Tensor]:
        return [
            self.cls_head(self.tower(f, m), m)[0].transpose(1, 2)
            for f, m in zip(feats, masks)
        ]


class RegHead(_ConvTower):
    """Per-level offsets ``[B, T_l, 2]`` (distances to start / end in units
    of the level stride): ``relu(Scale_l(conv(x)))``."""

    def __init__(self,
                 in_dim: int,
                 feat_dim: int,
                 num_levels: int,
                 num_layers: int = 3,
                 kernel_size: int = 3,
                 with_ln: bool = True) -> None:
        super().__init__(in_dim, feat_dim, num_layers, kernel_size, with_ln)
        self.scale = nn.ModuleList(Scale() for _ in range(num_levels))
        self.offset_head = MaskedConv1D(feat_dim, 2, kernel_size)

    def forward(self, feats: List[Tensor],
                masks: List[Tensor]) -> List[Tensor]:
        return [
            F.relu(scale(self.offset_head(self.tower(f, m),
                                          m)[0])).transpose(1, 2)
            for f, m, scale in zip(feats, masks, self.scale)
        ]
