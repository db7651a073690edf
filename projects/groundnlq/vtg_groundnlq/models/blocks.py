"""Basic layers of GroundNLQ (Hou et al., arXiv 2306.15255), in ``[B, C, T]``.

Behaviour follows ``libs/modeling/blocks.py`` of
github.com/houzhijian/GroundNLQ (itself from ActionFormer); module and parameter names match it so official
checkpoints load key for key.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def downsample_mask(mask: Tensor, stride: int) -> Tensor:
    """Nearest-neighbour downsampling of a ``[B, 1, T]`` mask by ``stride``.

    Equal to the official ``F.interpolate(mask, T // stride, 'nearest')``
    (output ``i`` reads input ``i * stride``).
    """
    return mask[..., ::stride] if stride > 1 else mask


class MaskedConv1D(nn.Module):
    """``nn.Conv1d`` whose output is zeroed where the (strided) mask is off.

    Args:
        in_channels, out_channels, kernel_size, stride, groups, bias: as for
            ``nn.Conv1d``; the padding is always ``kernel_size // 2``.

    Shapes: ``x [B, Cin, T]``, ``mask [B, 1, T]`` bool ->
    ``[B, Cout, T // stride]``, ``[B, 1, T // stride]``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.stride = stride
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=groups,
            bias=bias)
        if bias:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        if x.shape[-1] % self.stride:
            raise ValueError(f'length {x.shape[-1]} is not divisible by '
                             f'stride {self.stride}')
        out_mask = downsample_mask(mask, self.stride)
        return self.conv(x) * out_mask.to(x.dtype), out_mask


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of ``[B, C, T]`` with the official
    ``[1, C, 1]`` parameters (biased variance, ``eps`` inside the sqrt),
    evaluated by ``F.layer_norm``."""

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, num_channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, num_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = F.layer_norm(
            x.transpose(1, 2), (self.num_channels, ), self.weight.view(-1),
            self.bias.view(-1), self.eps)
        return out.transpose(1, 2)


class Scale(nn.Module):
    """A learnable scalar multiplier (per-level regression scale)."""

    def __init__(self, init_value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(init_value))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class AffineDropPath(nn.Module):
    """Per-channel LayerScale (init ``1e-4``) followed by stochastic depth
    (Touvron et al., arXiv 2103.17239; per-sample drop with rescaling)."""

    def __init__(self,
                 num_dim: int,
                 drop_prob: float = 0.0,
                 init_scale_value: float = 1e-4) -> None:
        super().__init__()
        self.scale = nn.Parameter(init_scale_value * torch.ones(1, num_dim, 1))
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        x = self.scale * x
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1 - self.drop_prob
        shape = (x.shape[0], ) + (1, ) * (x.dim() - 1)
        mask = (keep +
                torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
        return x.div(keep) * mask


def sinusoid_encoding(n_position: int, dim: int) -> Tensor:
    """Sinusoid position table of the Transformer, ``[1, dim, n_position]``.

    Channel ``j`` at position ``p`` is ``sin`` (even ``j``) or ``cos`` (odd
    ``j``) of ``p / 10000^(2 * (j // 2) / dim)``, computed in float64 and
    rounded to float32 like the official numpy table.
    """
    pos = torch.arange(n_position, dtype=torch.float64)[:, None]
    expo = 2 * (torch.arange(dim) // 2).double() / dim
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), expo)
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float().T.unsqueeze(0).contiguous()


def position_embedding(table: Tensor, lengths: Tensor, max_len: int,
                       total: int) -> Tensor:
    """Absolute position embedding for a batch, ``[B, C, total]``.

    Official GroundNLQ pads every clip to ``max_len`` and, at test time,
    linearly resizes the table when the padded length reaches ``max_len``.
    Clips here are padded to their own rounded length ``lengths[b]``; one
    shorter than ``max_len`` reads the table as is (identical to the
    official path), one at or beyond it reads the table resized to
    ``lengths[b]``, so a clip's output never depends on its batch mates.

    Args:
        table (Tensor): ``[1, C, max_len]`` table (already rescaled).
        lengths (Tensor): ``[B]`` per-clip rounded lengths.
        max_len (int): the table length.
        total (int): padded batch length.
    """
    out = table.new_zeros(len(lengths), table.shape[1], total)
    n = min(total, max_len)
    short = lengths < max_len
    out[short, :, :n] = table[0, :, :n]
    for b in torch.nonzero(~short)[:, 0].tolist():
        length = int(lengths[b])
        out[b, :, :length] = F.interpolate(
            table, length, mode='linear', align_corners=False)[0]
    return out


def prior_bias(prior_prob: float) -> float:
    """Classifier bias so that the initial sigmoid equals ``prior_prob``."""
    return -math.log((1 - prior_prob) / prior_prob)
