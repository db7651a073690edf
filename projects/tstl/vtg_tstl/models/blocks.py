"""One TSTL / CAST block: a CLIP block and a VideoMAE block side by side,
with adapters and the B-CAST cross-attention pair between their attention
and MLP sub-layers.

Layouts: CLIP tokens ``s [B*T', 1+P, D]`` (batch-first; the official code
keeps them sequence-first, ``[1+P, B*T', D]``), VideoMAE tokens
``t [B, T'*P, D]``. Parameter names are the official ones.
"""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import attention
from .adapters import Adapter
from .cross_attention import CrossAttentionS2T, CrossAttentionT2S

__all__ = [
    'CLIP_LN_EPS', 'VIDEOMAE_LN_EPS', 'QuickGELU', 'CLIPAttention',
    'VideoMAEAttention', 'VideoMAEMlp', 'ClipDropPath', 'TSTLBlock'
]

#: CLIP's LayerNorms (``clip_ln_*``) keep torch's default eps; every
#: VideoMAE-side norm (``norm1/2``, ``ln_*_cross``, ``vmae_fc_norm``) is the
#: official ``partial(nn.LayerNorm, eps=1e-6)``.
CLIP_LN_EPS = 1e-5
VIDEOMAE_LN_EPS = 1e-6
#: the official scale of the MLP adapters' output
MLP_ADAPTER_SCALE = 0.5


class _QuickGELUFunction(torch.autograd.Function):
    """``x * sigmoid(1.702 x)`` that keeps only ``x`` for the backward
    (autograd would keep ``x`` and the sigmoid: the MLP's widest tensor
    twice)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(1.702 * x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        x, = ctx.saved_tensors
        sig = torch.sigmoid(1.702 * x)
        return grad * (sig + 1.702 * x * sig * (1 - sig))


class QuickGELU(nn.Module):
    """CLIP's ``x * sigmoid(1.702 x)``."""

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _QuickGELUFunction.apply(x)
        return x * torch.sigmoid(1.702 * x)


def _heads(x: Tensor, num_heads: int) -> Tensor:
    """``[B, N, 3*D] -> [3, B, heads, N, D/heads]`` (a view)."""
    b, n, _ = x.shape
    return x.view(b, n, 3, num_heads, -1).permute(2, 0, 3, 1, 4)


def _merge_heads(x: Tensor) -> Tensor:
    """``[B, heads, N, hd] -> [B, N, heads*hd]``."""
    b, h, n, hd = x.shape
    return x.transpose(1, 2).reshape(b, n, h * hd)


class CLIPAttention(nn.Module):
    """CLIP's self-attention with ``nn.MultiheadAttention``'s parameter
    names (``in_proj_weight``, ``in_proj_bias``, ``out_proj``), batch-first.

    Args:
        dim (int): width ``D``.
        num_heads (int): heads.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'CLIPAttention: width {dim} is not divisible '
                             f'by {num_heads} heads')
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as MultiheadAttention

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, D] -> [B, N, D]``."""
        q, k, v = _heads(
            F.linear(x, self.in_proj_weight, self.in_proj_bias),
            self.num_heads)
        return self.out_proj(
            _merge_heads(attention.multi_head_attention(q, k, v)))


class VideoMAEAttention(nn.Module):
    """VideoMAE's self-attention: a bias-free ``qkv`` with separate
    ``q_bias`` / ``v_bias`` (no key bias).

    Args:
        dim (int): width ``D``.
        num_heads (int): heads.
        qkv_bias (bool): learn ``q_bias`` and ``v_bias``.
        attn_drop (float): dropout on the attention weights (training).
        proj_drop (float): dropout after the output projection.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'VideoMAEAttention: width {dim} is not '
                             f'divisible by {num_heads} heads')
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, N, D] -> [B, N, D]``."""
        bias = None
        if self.q_bias is not None:
            bias = torch.cat(
                [self.q_bias,
                 torch.zeros_like(self.v_bias), self.v_bias])
        q, k, v = _heads(F.linear(x, self.qkv.weight, bias), self.num_heads)
        out = attention.multi_head_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(_merge_heads(out)))


class VideoMAEMlp(nn.Module):
    """``fc2(gelu(fc1(x)))`` with dropout after ``fc2`` only (VideoMAE)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))


class ClipDropPath(nn.Module):
    """Stochastic depth with one draw per clip: a branch of a clip is kept
    (and scaled by ``1 / (1 - p)``) or dropped for all of its tokens, in
    both layouts (``[B*T', N, D]`` and ``[B, N, D]``). Identity in eval
    mode or with ``p == 0``; every call draws anew.

    Args:
        drop_prob (float): probability ``p`` of dropping a branch.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor, num_clips: int) -> Tensor:
        """``x [num_clips * k, ...]`` -> same shape."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty(num_clips).bernoulli_(keep).div_(keep)
        mask = mask.repeat_interleave(x.shape[0] // num_clips)
        return x * mask.view((-1, ) + (1, ) * (x.dim() - 1))

    def extra_repr(self) -> str:
        return f'p={self.drop_prob}'


class TSTLBlock(nn.Module):
    """CLIP block + VideoMAE block + B-CAST.

    Per block (``A_*``: adapters, ``dp``: drop path, ``LN_x``: LayerNorm)::

        s = s + S_Adapter(clip_attn(clip_ln_1(s)))        # adapter with skip
        t = t + T_Adapter(attn(norm1(t)))
        ns, nt = ln_s_cross(cross_s_down(s)), ln_t_cross(cross_t_down(t))
        s = s + dp(cross_s_up(gelu(t2s_cross(ns, nt))))
        t = t + dp(cross_t_up(gelu(s2t_cross(ns, nt))))
        s = s + clip_mlp(clip_ln_2(s)) + dp(0.5 * S_MLP_Adapter(clip_ln_2(s)))
        t = t + mlp(norm2(t)) + dp(0.5 * T_MLP_Adapter(norm2(t)))

    Args:
        dim (int): width ``D``.
        num_heads (int): heads of every attention.
        num_patches (int): ``P``, patches per frame.
        num_tubelets (int): ``T'``, tubelets (= CLIP frames) per clip.
        mlp_ratio (float): MLP hidden width over ``D`` (CLIP and VideoMAE).
        down_ratio (int): B-CAST width is ``D // down_ratio``.
        adapter_ratio (float): adapter bottleneck over ``D``.
        qkv_bias (bool): VideoMAE ``q_bias`` / ``v_bias``.
        drop (float): dropout after VideoMAE's projections.
        attn_drop (float): dropout on VideoMAE's attention weights.
        drop_path (float): drop-path probability of the B-CAST and MLP
            adapter branches.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 num_patches: int,
                 num_tubelets: int,
                 mlp_ratio: float = 4.0,
                 down_ratio: int = 2,
                 adapter_ratio: float = 0.25,
                 qkv_bias: bool = True,
                 drop: float = 0.0,
                 attn_drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        hidden, cross = int(dim * mlp_ratio), dim // down_ratio
        # CLIP attention
        self.clip_ln_1 = nn.LayerNorm(dim, eps=CLIP_LN_EPS)
        self.clip_attn = CLIPAttention(dim, num_heads)
        self.S_Adapter = Adapter(dim, adapter_ratio)
        # VideoMAE attention
        self.norm1 = nn.LayerNorm(dim, eps=VIDEOMAE_LN_EPS)
        self.attn = VideoMAEAttention(dim, num_heads, qkv_bias, attn_drop,
                                      drop)
        self.T_Adapter = Adapter(dim, adapter_ratio)
        # B-CAST
        self.cross_s_down = nn.Linear(dim, cross)
        self.cross_t_down = nn.Linear(dim, cross)
        self.ln_s_cross = nn.LayerNorm(cross, eps=VIDEOMAE_LN_EPS)
        self.ln_t_cross = nn.LayerNorm(cross, eps=VIDEOMAE_LN_EPS)
        self.t2s_cross = CrossAttentionT2S(cross, num_heads, num_tubelets)
        self.s2t_cross = CrossAttentionS2T(cross, num_heads, num_patches)
        self.cross_act = nn.GELU()
        self.cross_s_up = nn.Linear(cross, dim)
        self.cross_t_up = nn.Linear(cross, dim)
        # CLIP MLP
        self.clip_ln_2 = nn.LayerNorm(dim, eps=CLIP_LN_EPS)
        self.clip_mlp = nn.Sequential(
            OrderedDict([('c_fc', nn.Linear(dim, hidden)),
                         ('gelu', QuickGELU()),
                         ('c_proj', nn.Linear(hidden, dim))]))
        self.S_MLP_Adapter = Adapter(dim, adapter_ratio, skip_connect=False)
        # VideoMAE MLP
        self.norm2 = nn.LayerNorm(dim, eps=VIDEOMAE_LN_EPS)
        self.mlp = VideoMAEMlp(dim, hidden, drop)
        self.T_MLP_Adapter = Adapter(dim, adapter_ratio, skip_connect=False)
        self.drop_path = ClipDropPath(drop_path)

    def zero_init_branches(self) -> None:
        """The official start: every adapter and both B-CAST branches
        output 0, so the block is the two frozen blocks alone."""
        for adapter in (self.S_Adapter, self.T_Adapter, self.S_MLP_Adapter,
                        self.T_MLP_Adapter):
            adapter.zero_init_last()
        for up in (self.cross_s_up, self.cross_t_up):
            nn.init.zeros_(up.weight)
            nn.init.zeros_(up.bias)

    def forward(self, s: Tensor, t: Tensor) -> tuple:
        """``s [B*T', 1+P, D]``, ``t [B, T'*P, D]`` -> ``(s, t)``, same
        shapes."""
        b = t.shape[0]
        s = s + self.S_Adapter(self.clip_attn(self.clip_ln_1(s)))
        t = t + self.T_Adapter(self.attn(self.norm1(t)))

        ns = self.ln_s_cross(self.cross_s_down(s))
        nt = self.ln_t_cross(self.cross_t_down(t))
        s_cross = self.cross_s_up(self.cross_act(self.t2s_cross(ns, nt)))
        t_cross = self.cross_t_up(self.cross_act(self.s2t_cross(ns, nt)))
        del ns, nt
        s = s + self.drop_path(s_cross, b)
        t = t + self.drop_path(t_cross, b)

        sn = self.clip_ln_2(s)
        s = s + self.clip_mlp(sn) + self.drop_path(
            MLP_ADAPTER_SCALE * self.S_MLP_Adapter(sn), b)
        tn = self.norm2(t)
        t = t + self.mlp(tn) + self.drop_path(
            MLP_ADAPTER_SCALE * self.T_MLP_Adapter(tn), b)
        return s, t
