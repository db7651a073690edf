"""Conv pyramid, shared conv heads, adaptive query pooling and the point
generator of R²-Tuning (github.com/yeliudev/R2-Tuning, models/blocks.py and
models/generator.py), rewritten for batched use with optional per-sample
length masking."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def level_lengths(num_clips: Tensor, stride: int) -> Tensor:
    """Per-sample length of a pyramid level run on each sample alone.

    ``p = log2(stride)`` stride-2 convs turn ``T`` clips into ``T >> p``
    points; the level does not exist (length 0) when ``T < stride``.

    Args:
        num_clips (Tensor): ``[B]`` int clips per sample.
        stride (int): level stride.

    Returns:
        Tensor: ``[B]`` int lengths.
    """
    length = num_clips >> int(math.log2(stride))
    return torch.where(num_clips < stride, torch.zeros_like(length), length)


def length_mask(lengths: Tensor, size: int) -> Tensor:
    """``[B, size]`` bool mask of the first ``lengths[b]`` positions."""
    return torch.arange(size, device=lengths.device)[None] < lengths[:, None]


class _Downsample(nn.Module):
    """``Conv1d(C, C, 2, stride=2) -> LN -> ReLU`` on ``[B, T, C]``."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dims, dims, 2, stride=2)
        self.norm = nn.LayerNorm(dims)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x).relu()


class ConvPyramid(nn.Module):
    """Temporal feature pyramid.

    Stride 1 is a bare ReLU; stride ``2^p`` applies ``p`` downsampling
    stages. A level is skipped when ``T < stride``. The official stride-1
    ReLU is in place, so every later level (and the official ``video_emb``)
    sees ``ReLU(x)``; we reproduce that without modifying the input.

    Args:
        dims (int): channels ``C``.
        strides (Sequence[int]): powers of two, increasing.
    """

    def __init__(self, dims: int, strides: Sequence[int]) -> None:
        super().__init__()
        for s in strides:
            if s < 1 or s & (s - 1):
                raise ValueError(f'pyramid strides must be powers of two '
                                 f'>= 1, got {tuple(strides)}')
        self.strides = tuple(strides)
        self.levels = nn.ModuleList(
            nn.ModuleList(
                _Downsample(dims) for _ in range(int(math.log2(s))))
            for s in strides)

    def forward(self, x: Tensor) -> List[Tensor]:
        """
        Args:
            x (Tensor): ``[B, T, C]``.

        Returns:
            list[Tensor]: ``[B, T // s, C]`` for every stride ``s <= T``.
        """
        out = []
        for s, stages in zip(self.strides, self.levels):
            if x.size(1) < s:
                continue
            if len(stages) == 0:  # official in-place ReLU: later levels
                x = x.relu()  # (and the caller's video_emb) see ReLU(x)
            y = x
            for stage in stages:
                y = stage(y)
            out.append(y)
        return out


class ConvHead(nn.Module):
    """``Conv1d(C, C, 3) -> ReLU -> Conv1d(C, out, 3)`` over time, shared by
    every pyramid level.

    Args:
        dims (int): channels ``C``.
        out_dims (int): output channels.
        kernel_size (int): temporal kernel (zero padding keeps the length).
    """

    def __init__(self, dims: int, out_dims: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dims, dims, kernel_size,
                               padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(dims, out_dims, kernel_size,
                               padding=kernel_size // 2)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            x (Tensor): ``[B, T, C]``.
            mask (Tensor, optional): ``[B, T]`` bool; positions outside it
                are zeroed before each conv so that every sample sees the
                zero padding it would see alone (per-sample exactness).
                ``None`` reproduces the official unmasked batch.

        Returns:
            Tensor: ``[B, T, out]``.
        """
        x = x.transpose(1, 2)
        m = None if mask is None else mask[:, None].to(x.dtype)
        if m is not None:
            x = x * m
        x = self.conv1(x).relu()
        if m is not None:
            x = x * m
        return self.conv2(x).transpose(1, 2)


class AdaPooling(nn.Module):
    """Attention pooling of query tokens: masked softmax of a learned
    ``Linear(C, 1)`` score over ``L``, then the weighted sum.

    Args:
        dims (int): channels ``C``.
    """

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.att = nn.Linear(dims, 1, bias=False)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """
        Args:
            x (Tensor): ``[B, L, C]``.
            mask (Tensor): ``[B, L]``, nonzero = valid token.

        Returns:
            Tensor: ``[B, 1, C]``.
        """
        a = self.att(x).masked_fill(mask.unsqueeze(2) == 0, float('-inf'))
        a = a.softmax(dim=1)
        return torch.matmul(x.transpose(1, 2), a).transpose(1, 2)


def make_points(sizes: Sequence[int],
                strides: Sequence[int],
                buffer_size: int = 1024,
                device: Optional[torch.device] = None) -> Tensor:
    """Anchor points of the pyramid levels (official ``PointGenerator``).

    Level ``l`` of stride ``s`` contributes rows ``(t, reg_lo, reg_hi, s)``
    for ``t = 0, s, 2s, ...`` (clip units, no 0.5 offset); the regression
    ranges are ``(0, s_1), (s_1, s_2), ..., (s_last, inf)``.

    Args:
        sizes (Sequence[int]): points per level (a prefix of the levels).
        strides (Sequence[int]): all level strides.
        buffer_size (int): the official point buffer length in clips; a
            level longer than ``buffer_size / s`` is an error as there.

    Returns:
        Tensor: ``[sum(sizes), 4]`` float32.
    """
    bounds = [0.] + [float(s) for s in strides[1:]] + [float('inf')]
    rows = []
    for lvl, (size, s) in enumerate(zip(sizes, strides)):
        if size == 0:
            continue
        capacity = len(range(0, buffer_size, s))
        if size > capacity:
            raise ValueError(f'pyramid level of stride {s} has {size} points, '
                             f'more than buffer_size={buffer_size} allows '
                             f'({capacity}); raise buffer_size')
        t = torch.arange(0, size * s, s, device=device, dtype=torch.float32)
        row = torch.stack([
            t,
            t.new_full((size, ), bounds[lvl]),
            t.new_full((size, ), bounds[lvl + 1]),
            t.new_full((size, ), float(s))
        ], 1)
        rows.append(row)
    return torch.cat(rows)


def official_level_masks(video_mask: Tensor,
                         strides: Sequence[int],
                         num_levels: int) -> Tuple[Tensor, ...]:
    """Official pyramid masks: ``max_pool1d(mask, s, s)`` per level, so a
    point covering any valid clip counts as valid."""
    out = []
    for s in strides[:num_levels]:
        m = video_mask.long()
        if s > 1:
            m = F.max_pool1d(m.float()[:, None], s, stride=s)[:, 0].long()
        out.append(m)
    return tuple(out)
