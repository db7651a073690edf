"""B-CAST cross-attention between the CLIP (spatial) and VideoMAE
(temporal) experts, on down-projected tokens of width ``d``.

Layouts (ours; ``T'`` tubelets = CLIP frames, ``P`` patches per frame):

- CLIP tokens ``s``: ``[B*T', 1+P, d]`` (class token first, frames of a clip
  consecutive);
- VideoMAE tokens ``t``: ``[B, T'*P, d]`` (tubelet-major).

Both attentions are computed without materialising permuted copies of
their inputs: the heads of the time attention are ``P * heads`` independent
sequences of length ``T'``, which is a strided view of the projections.
Parameter names are the official ones (``t2s_q``, ``t2s_kv``, ...; the
S2T output projection is named ``t2s_proj`` there too).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from . import attention

__all__ = ['CrossAttentionT2S', 'CrossAttentionS2T']


def _check_dims(name: str, dim: int, num_heads: int) -> int:
    if dim % num_heads:
        raise ValueError(f'{name}: width {dim} is not divisible by '
                         f'{num_heads} heads')
    return dim // num_heads


def _split_linear(x: Tensor, weight: Tensor, bias: Tensor) -> tuple:
    """Keys and values from one ``[2*d, d]`` projection (keys first, as
    the official ``(e h d)`` split), each ``[..., d]``."""
    w_k, w_v = weight.chunk(2)
    b_k, b_v = bias.chunk(2)
    return F.linear(x, w_k, b_k), F.linear(x, w_v, b_v)


class _CrossAttention(nn.Module):
    """What the two directions share: widths and the position scale."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = _check_dims(type(self).__name__, dim, num_heads)
        self.pos_scale = self.head_dim**-0.5

    def _position(self, rows: int, dim: int) -> nn.Parameter:
        return nn.Parameter(self.pos_scale * torch.randn(rows, dim))

    @staticmethod
    def _geometry(s: Tensor, t: Tensor) -> tuple:
        """``(B, T', P)`` from ``s [B*T', 1+P, d]`` and ``t [B, T'*P, d]``."""
        batch = t.shape[0]
        num_t = s.shape[0] // batch
        num_p = s.shape[1] - 1
        if s.shape[0] != batch * num_t or t.shape[1] != num_t * num_p:
            raise ValueError(f'B-CAST: CLIP tokens {tuple(s.shape)} do not '
                             f'match VideoMAE tokens {tuple(t.shape)}')
        return batch, num_t, num_p


class CrossAttentionT2S(_CrossAttention):
    """Temporal-to-spatial: each CLIP patch token attends over the ``T'``
    VideoMAE tokens at its position (attention over time); the class token
    passes through unchanged.

    Args:
        dim (int): token width ``d``.
        num_heads (int): heads.
        num_tubelets (int): ``T'``, rows of the time positions.
    """

    def __init__(self, dim: int, num_heads: int, num_tubelets: int) -> None:
        super().__init__(dim, num_heads)
        self.clip_time_pos = self._position(num_tubelets, dim)
        self.vmae_time_pos = self._position(num_tubelets, dim)
        self.t2s_q = nn.Linear(dim, dim, bias=False)
        self.t2s_q_bias = nn.Parameter(torch.zeros(dim))
        self.t2s_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.t2s_kv_bias = nn.Parameter(torch.zeros(2 * dim))
        self.t2s_proj = nn.Linear(dim, dim)

    def forward(self, s: Tensor, t: Tensor) -> Tensor:
        """``s [B*T', 1+P, d]``, ``t [B, T'*P, d]`` -> ``[B*T', 1+P, d]``."""
        b, nt, npt = self._geometry(s, t)
        d, h = s.shape[-1], self.num_heads * npt
        s_pat = s[:, 1:].unflatten(0, (b, nt)) + self.clip_time_pos[:, None]
        q = F.linear(s_pat, self.t2s_q.weight, self.t2s_q_bias)
        t_pos = t.reshape(b, nt, npt, d) + self.vmae_time_pos[:, None]
        k, v = _split_linear(t_pos, self.t2s_kv.weight, self.t2s_kv_bias)
        # [B, T', P*heads, hd] -> [B, P*heads, T', hd]: heads over positions
        q, k, v = (
            x.view(b, nt, h, self.head_dim).transpose(1, 2) for x in (q, k, v))
        out = attention.multi_head_attention(q, k, v)
        out = self.t2s_proj(out.transpose(1, 2).reshape(b * nt, npt, d))
        return torch.cat([s[:, :1], out], dim=1)


class CrossAttentionS2T(_CrossAttention):
    """Spatial-to-temporal: each VideoMAE token attends over the ``P`` CLIP
    patch tokens of its tubelet's frame (attention over space).

    Args:
        dim (int): token width ``d``.
        num_heads (int): heads.
        num_patches (int): ``P``, rows of the space positions.
    """

    def __init__(self, dim: int, num_heads: int, num_patches: int) -> None:
        super().__init__(dim, num_heads)
        self.clip_space_pos = self._position(num_patches, dim)
        self.vmae_space_pos = self._position(num_patches, dim)
        self.s2t_q = nn.Linear(dim, dim, bias=False)
        self.s2t_q_bias = nn.Parameter(torch.zeros(dim))
        self.s2t_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.s2t_kv_bias = nn.Parameter(torch.zeros(2 * dim))
        self.t2s_proj = nn.Linear(dim, dim)  # official name

    def forward(self, s: Tensor, t: Tensor) -> Tensor:
        """``s [B*T', 1+P, d]``, ``t [B, T'*P, d]`` -> ``[B, T'*P, d]``."""
        b, nt, npt = self._geometry(s, t)
        d = s.shape[-1]
        t_pos = t.reshape(b * nt, npt, d) + self.vmae_space_pos
        q = F.linear(t_pos, self.s2t_q.weight, self.s2t_q_bias)
        k, v = _split_linear(s[:, 1:] + self.clip_space_pos,
                             self.s2t_kv.weight, self.s2t_kv_bias)
        q, k, v = (
            x.view(b * nt, npt, self.num_heads, self.head_dim).transpose(1, 2)
            for x in (q, k, v))
        out = attention.multi_head_attention(q, k, v)
        out = self.t2s_proj(out.transpose(1, 2).reshape(b * nt, npt, d))
        return out.view(b, nt * npt, d)
