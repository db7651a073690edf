"""Transformer pieces of the R² block's temporal refinement decoder.

Numerically the same as nncore 0.4.4's ``PositionalEncoding``
(``normalize=True``), ``MultiHeadAttention`` and post-norm
``TransformerDecoderLayer`` (order cross_att -> self_att -> ffn) used by
R²-Tuning (github.com/yeliudev/R2-Tuning, configs/_base_/models/model.py).
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def sine_positional_encoding(lengths: Tensor,
                             num_pos: int,
                             dims: int,
                             temperature: float = 10000.,
                             scale: float = 2 * math.pi) -> Tensor:
    """Normalised sine/cosine positional encoding (nncore, normalize=True).

    Position ``j`` (1-based) of a sequence of length ``n`` is
    ``j / (n + 1e-6) * scale``; channel ``c`` has frequency
    ``temperature ** (2 * (c // 2) / dims)``, even channels take ``sin`` and
    odd ones ``cos``.

    Args:
        lengths (Tensor): ``[B]`` normalising length per sequence (the padded
            length for the official batched behaviour, the true length for
            per-sample exactness).
        num_pos (int): number of positions ``T`` to produce.
        dims (int): channels ``C``.

    Returns:
        Tensor: ``[B, T, C]`` float32 encoding.
    """
    pos = torch.arange(1, num_pos + 1, device=lengths.device)
    pos = pos.unsqueeze(0) / (lengths[:, None] + 1e-6) * scale
    dt = torch.arange(dims, device=lengths.device)
    dt = temperature**(dt // 2 * 2 / dims)
    pe = pos.unsqueeze(-1) / dt
    pe = torch.stack((pe[:, :, 0::2].sin(), pe[:, :, 1::2].cos()), dim=3)
    return pe.flatten(start_dim=2)


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Per-sample stochastic depth along dim 0 (nncore ``drop_path``)."""
    if p == 0 or not training:
        return x
    prob = 1 - p
    size = (x.size(0), ) + (1, ) * (x.dim() - 1)
    rand = prob + torch.rand(size, dtype=x.dtype, device=x.device)
    return x / prob * rand.floor()


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate ``q/k/v/m`` projections.

    Args:
        dims (int): channels ``C``.
        heads (int): number of heads.
    """

    def __init__(self, dims: int, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dims, dims)
        self.k = nn.Linear(dims, dims)
        self.v = nn.Linear(dims, dims)
        self.m = nn.Linear(dims, dims)
        for layer in (self.q, self.k, self.v, self.m):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self,
                q: Tensor,
                k: Tensor,
                v: Tensor,
                key_mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            q (Tensor): ``[B, Tq, C]``.
            k, v (Tensor): ``[B, Tk, C]``.
            key_mask (Tensor, optional): ``[B, Tk]``, nonzero = attend.

        Returns:
            Tensor: ``[B, Tq, C]``.
        """
        b, tq, c = q.shape
        h = self.heads

        def split(x: Tensor) -> Tensor:
            return x.view(b, -1, h, c // h).transpose(1, 2)

        mask = None
        if key_mask is not None:
            mask = (key_mask > 0)[:, None, None, :]
        out = F.scaled_dot_product_attention(
            split(self.q(q)), split(self.k(k)), split(self.v(v)),
            attn_mask=mask)
        return self.m(out.transpose(1, 2).reshape(b, tq, c))


class FeedForward(nn.Module):
    """``Linear -> ReLU -> Linear`` with nncore's kaiming (fan_out) init."""

    def __init__(self, dims: int, ratio: int = 4) -> None:
        super().__init__()
        self.mapping = nn.Sequential(
            nn.Linear(dims, dims * ratio), nn.ReLU(inplace=True),
            nn.Linear(dims * ratio, dims))
        for layer in (self.mapping[0], self.mapping[2]):
            nn.init.kaiming_normal_(layer.weight, mode='fan_out')
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.mapping(x)


class TemporalDecoderLayer(nn.Module):
    """Post-norm decoder layer: cross-attention to the query, then video
    self-attention, then the FFN, each followed by
    ``x = LN(x + DropPath(out))``.

    Args:
        dims (int): channels ``C``.
        heads (int): attention heads.
        ratio (int): FFN expansion.
        droppath (float): stochastic-depth probability.
    """

    def __init__(self,
                 dims: int,
                 heads: int = 8,
                 ratio: int = 4,
                 droppath: float = 0.1) -> None:
        super().__init__()
        self.cross_att = MultiHeadAttention(dims, heads)
        self.cross_att_norm = nn.LayerNorm(dims)
        self.self_att = MultiHeadAttention(dims, heads)
        self.self_att_norm = nn.LayerNorm(dims)
        self.ffn = FeedForward(dims, ratio)
        self.ffn_norm = nn.LayerNorm(dims)
        self.droppath = droppath

    def _residual(self, x: Tensor, d: Tensor, norm: nn.Module) -> Tensor:
        return norm(x + drop_path(d, self.droppath, self.training))

    def forward(self, x: Tensor, mem: Tensor, pe: Tensor, video_mask: Tensor,
                query_mask: Tensor) -> Tensor:
        """
        Args:
            x (Tensor): ``[B, T, C]`` video states.
            mem (Tensor): ``[B, L, C]`` query tokens.
            pe (Tensor): ``[B, T, C]`` positional encoding of ``x``.
            video_mask (Tensor): ``[B, T]`` keys of the self-attention.
            query_mask (Tensor): ``[B, L]`` keys of the cross-attention.

        Returns:
            Tensor: ``[B, T, C]``.
        """
        d = self.cross_att(x + pe, mem, mem, query_mask)
        x = self._residual(x, d, self.cross_att_norm)
        q = x + pe
        d = self.self_att(q, q, x, video_mask)
        x = self._residual(x, d, self.self_att_norm)
        return self._residual(x, self.ffn(x), self.ffn_norm)
