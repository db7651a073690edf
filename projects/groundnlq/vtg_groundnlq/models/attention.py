"""Attention layers and the Transformer block of GroundNLQ.

Same computation as ``MaskedMHA`` / ``MaskedMHCA`` / ``LocalMaskedMHCA`` /
``TransformerBlock`` in ``libs/modeling/blocks.py`` of
github.com/houzhijian/GroundNLQ (names kept for checkpoint compatibility).
Global and cross attention use ``F.scaled_dot_product_attention``. The local
attention is a banded attention over ``2w + 1`` neighbours that works for
any length: the official Longformer-style chunking needs the length to be a
multiple of ``2w`` at every pyramid level (hence its padding to 2560); here
keys outside the sequence are treated exactly like masked keys, so a clip
padded to any length gives the same outputs.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import AffineDropPath, LayerNorm, MaskedConv1D

#: additive score of a masked key, as the official local attention
MASKED_SCORE = -1e4


def _heads(x: Tensor, n_head: int) -> Tensor:
    """``[B, nh * hs, T]`` -> ``[B, nh, T, hs]``."""
    b, c, t = x.shape
    return x.view(b, n_head, c // n_head, t).transpose(2, 3)


def _merge(x: Tensor) -> Tensor:
    """``[B, nh, T, hs]`` -> ``[B, nh * hs, T]``."""
    b, h, t, d = x.shape
    return x.transpose(2, 3).reshape(b, h * d, t)


def local_attention(q: Tensor,
                    k: Tensor,
                    v: Tensor,
                    kv_mask: Tensor,
                    window_overlap: int,
                    block: int = 32) -> Tensor:
    """Banded attention: position ``t`` attends to ``t - w .. t + w``.

    Computed per block of ``block`` queries against the ``block + 2w`` keys
    around it with batched matmuls; entries outside the band or on masked
    keys get the official additive ``-1e4`` and vanish in the softmax
    (exactly 0 in float32), so the result equals attention restricted to the
    ``2w + 1`` window whatever the padding.

    Args:
        q, k, v (Tensor): ``[B, nh, T, hs]``, ``q`` already scaled.
        kv_mask (Tensor): ``[B, T]`` bool, valid keys.
        window_overlap (int): ``w``, half the window.
        block (int): queries per block (speed only).

    Returns:
        Tensor: ``[B, nh, T, hs]``. Rows of masked queries are meaningless
        (callers zero them).
    """
    w = window_overlap
    b, h, t, d = q.shape
    n_blk = -(-t // block)
    extra = n_blk * block - t
    span = block + 2 * w
    qb = F.pad(q, (0, 0, 0, extra)).view(b, h, n_blk, block, d)
    kb = F.pad(k, (0, 0, w, w + extra)).unfold(2, span, block)
    vb = F.pad(v, (0, 0, w, w + extra)).unfold(2, span, block)
    valid = F.pad(kv_mask, (w, w + extra)).unfold(1, span, block)
    offset = torch.arange(
        span, device=q.device) - torch.arange(
            block, device=q.device)[:, None]
    band = (offset >= 0) & (offset <= 2 * w)  # block, span
    keep = band & valid[:, None, :, None, :]  # B, 1, n_blk, block, span
    scores = torch.matmul(qb, kb).masked_fill(~keep, MASKED_SCORE)
    out = torch.matmul(scores.softmax(dim=-1), vb.transpose(-1, -2))
    return out.reshape(b, h, n_blk * block, d)[:, :, :t]


class MaskedMHA(nn.Module):
    """Multi-head cross attention (video queries, text keys/values).

    Shapes: ``x [B, C, T]``, ``mask [B, 1, T]`` (float or bool),
    ``y [B, C, L]``, ``y_mask [B, 1, L]`` bool -> ``[B, C, T]``.
    """

    def __init__(self,
                 n_embd: int,
                 n_head: int,
                 proj_pdrop: float = 0.0) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f'n_embd {n_embd} % n_head {n_head} != 0')
        self.n_head = n_head
        self.key = nn.Conv1d(n_embd, n_embd, 1)
        self.query = nn.Conv1d(n_embd, n_embd, 1)
        self.value = nn.Conv1d(n_embd, n_embd, 1)
        self.proj = nn.Conv1d(n_embd, n_embd, 1)
        self.proj_drop = nn.Dropout(proj_pdrop)

    def forward(self, x: Tensor, mask: Tensor, y: Tensor,
                y_mask: Tensor) -> Tensor:
        q = _heads(self.query(x), self.n_head)
        k = _heads(self.key(y), self.n_head)
        v = _heads(self.value(y), self.n_head)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=y_mask[:, :, None, :])
        return self.proj_drop(self.proj(_merge(out))) * mask.to(x.dtype)


class MaskedMHCA(nn.Module):
    """Multi-head self attention with depthwise-conv projections (MHCA).

    ``window_size > 1`` gives the local (banded) variant. Strides ``> 1``
    downsample queries and keys/values by a strided depthwise conv (kernel
    ``stride + 1``), otherwise the conv has kernel 3.

    Shapes: ``x [B, C, T]``, ``mask [B, 1, T]`` bool ->
    ``[B, C, T // stride]``, ``[B, 1, T // stride]``.
    """

    def __init__(self,
                 n_embd: int,
                 n_head: int,
                 window_size: int = -1,
                 n_qx_stride: int = 1,
                 n_kv_stride: int = 1,
                 proj_pdrop: float = 0.0) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f'n_embd {n_embd} % n_head {n_head} != 0')
        for s in (n_qx_stride, n_kv_stride):
            if s != 1 and s % 2:
                raise ValueError(f'strides must be 1 or even, got {s}')
        self.n_head = n_head
        self.scale = (n_embd // n_head)**-0.5
        self.window_overlap = window_size // 2 if window_size > 1 else 0
        q_ks = n_qx_stride + 1 if n_qx_stride > 1 else 3
        kv_ks = n_kv_stride + 1 if n_kv_stride > 1 else 3
        # the official query conv uses the kv stride (both are equal here)
        self.query_conv = MaskedConv1D(
            n_embd, n_embd, q_ks, n_kv_stride, groups=n_embd, bias=False)
        self.query_norm = LayerNorm(n_embd)
        self.key_conv = MaskedConv1D(
            n_embd, n_embd, kv_ks, n_kv_stride, groups=n_embd, bias=False)
        self.key_norm = LayerNorm(n_embd)
        self.value_conv = MaskedConv1D(
            n_embd, n_embd, kv_ks, n_kv_stride, groups=n_embd, bias=False)
        self.value_norm = LayerNorm(n_embd)
        self.key = nn.Conv1d(n_embd, n_embd, 1)
        self.query = nn.Conv1d(n_embd, n_embd, 1)
        self.value = nn.Conv1d(n_embd, n_embd, 1)
        self.proj = nn.Conv1d(n_embd, n_embd, 1)
        self.proj_drop = nn.Dropout(proj_pdrop)

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        q, qx_mask = self.query_conv(x, mask)
        k, kv_mask = self.key_conv(x, mask)
        v, _ = self.value_conv(x, mask)
        q = _heads(self.query(self.query_norm(q)), self.n_head)
        k = _heads(self.key(self.key_norm(k)), self.n_head)
        v = _heads(self.value(self.value_norm(v)), self.n_head)
        if self.window_overlap:
            out = local_attention(q * self.scale, k, v, kv_mask[:, 0],
                                  self.window_overlap)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=kv_mask[:, :, None, :])
        out = self.proj_drop(self.proj(_merge(out)))
        return out * qx_mask.to(out.dtype), qx_mask


class TransformerBlock(nn.Module):
    """Pre-LN block: (local) self attention -> optional cross attention to
    the query text -> MLP, each residual branch through ``AffineDropPath``.

    With ``n_ds_stride > 1`` the block downsamples (strided attention, max
    pooled skip). As in the official code the cross-attention branch reuses
    ``drop_path_attn`` (the same LayerScale) as the self-attention branch.

    Shapes: ``x [B, C, T]``, ``mask [B, 1, T]`` bool, optional
    ``cross_y [B, C, L]`` / ``cross_y_mask [B, 1, L]`` ->
    ``[B, C, T // stride]``, ``[B, 1, T // stride]``.
    """

    def __init__(self,
                 n_embd: int,
                 n_head: int,
                 n_ds_stride: int = 1,
                 proj_pdrop: float = 0.0,
                 path_pdrop: float = 0.0,
                 mha_win_size: int = -1,
                 use_cross_modal: bool = False) -> None:
        super().__init__()
        self.ln1 = LayerNorm(n_embd)
        self.ln2 = LayerNorm(n_embd)
        self.attn = MaskedMHCA(n_embd, n_head, mha_win_size, n_ds_stride,
                               n_ds_stride, proj_pdrop)
        self.use_cross_modal = use_cross_modal
        if use_cross_modal:
            self.cross_attn = MaskedMHA(n_embd, n_head, proj_pdrop)
            self.ln3 = LayerNorm(n_embd)
        if n_ds_stride > 1:
            self.pool_skip = nn.MaxPool1d(n_ds_stride + 1, n_ds_stride,
                                          (n_ds_stride + 1) // 2)
        else:
            self.pool_skip = nn.Identity()
        self.mlp = nn.Sequential(
            nn.Conv1d(n_embd, 4 * n_embd, 1), nn.GELU(),
            nn.Dropout(proj_pdrop, inplace=True),
            nn.Conv1d(4 * n_embd, n_embd, 1),
            nn.Dropout(proj_pdrop, inplace=True))
        if path_pdrop > 0.0:
            self.drop_path_attn = AffineDropPath(n_embd, path_pdrop)
            self.drop_path_mlp = AffineDropPath(n_embd, path_pdrop)
        else:
            self.drop_path_attn = nn.Identity()
            self.drop_path_mlp = nn.Identity()

    def forward(
            self,
            x: Tensor,
            mask: Tensor,
            cross_y: Optional[Tensor] = None,
            cross_y_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        out, out_mask = self.attn(self.ln1(x), mask)
        maskf = out_mask.to(out.dtype)
        out = self.pool_skip(x) * maskf + self.drop_path_attn(out)
        if self.use_cross_modal and cross_y is not None:
            cross = self.cross_attn(
                self.ln3(out), maskf, self.ln3(cross_y), cross_y_mask)
            out = out * maskf + self.drop_path_attn(cross)
        out = out + self.drop_path_mlp(self.mlp(self.ln2(out)) * maskf)
        return out, out_mask
