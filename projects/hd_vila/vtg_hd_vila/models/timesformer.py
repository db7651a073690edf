"""HD-VILA's TimeSformer: divided space-time attention over feature maps.

Unlike the pixel TimeSformer (and mmaction2's), HD-VILA's has no patch
embedding and no class token: it reads a clip of feature maps
``[B, T, C, H, W]`` (C = embed dim), adds a spatial position embedding
``pos_embed [1, H0*W0, C]`` (row-major over ``H0 x W0``) and a temporal one
``time_embed [1, T0, C]``, runs ``depth`` blocks and returns feature maps of
the input's shape. Inputs of another size get the embeddings resized:
bilinearly over ``(H, W)``, linearly over ``T`` (``align_corners=False``).

Each :class:`DividedSpaceTimeBlock` attends over time at every position
(its output through ``temporal_fc``), then over space in every frame, then
applies the MLP, each on a residual path with stochastic depth. Attention
and MLP are timm's ``Attention`` / ``Mlp``; parameter names are the
official ones (``blocks.{i}.{norm1, attn.qkv, attn.proj, temporal_norm1,
temporal_attn.*, temporal_fc, norm2, mlp.fc1, mlp.fc2}``, ``pos_embed``,
``time_embed``). The official module also holds a final ``norm`` that its
forward never uses; it is left out here (a converter drops
``timesformer.norm.*``).

The official model passes ``timesformer_type`` ('new' in every config) but
only stores and prints it, so there is no such argument here.

HD-VILA keeps one frame of the output (the keyframe's). ``forward(x,
frame=f)`` returns that frame only and runs the last block for it alone
(:meth:`DividedSpaceTimeBlock.forward_frame`: its temporal attention still
reads every frame, everything after it is per frame): of the last block's
work and activations, only the other frames' keys and values are left; the
result is the full output's frame ``f``, with the same stochastic-depth
draws in training.

The blocks' Linear layers are :class:`TokenLinear`\\ s (same parameters):
on the CPU in float32 they run as oneDNN 1x1 convolutions over the token
matrix, which is a channels-last map as it lies in memory (no copy). Same
values (to rounding); PyTorch's CPU matmul goes to MKL, whose sgemm takes
its AVX2 path on AMD processors, while oneDNN uses AVX-512 where the CPU
has it: measured 2x on the TimeSformer's linears on an AMD EPYC.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models.vision_transformer import Attention
from torch import nn

#: LayerNorm epsilon of the official TimeSformer
NORM_EPS = 1e-6


def token_linear(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, linear.weight, linear.bias)`` for ``x [..., C]``; a
    float32 CPU input as a 1x1 convolution (see the module doc): the rows
    ``[M, C]`` are the channels-last map ``[1, C, 1, M]``."""
    if x.device.type != 'cpu' or x.dtype != torch.float32:
        return F.linear(x, linear.weight, linear.bias)
    rows = x.reshape(-1, x.shape[-1])
    maps = rows.view(1, 1, *rows.shape).permute(0, 3, 1, 2)
    out = F.conv2d(maps, linear.weight[:, :, None, None], linear.bias)
    return out.permute(0, 2, 3, 1).reshape(*x.shape[:-1], -1)


class TokenLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters and names) computed by
    :func:`token_linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return token_linear(self, x)


class DividedSpaceTimeBlock(nn.Module):
    """Temporal attention, spatial attention, MLP (pre-norm, residual).

    Args:
        dim: token width C.
        num_heads: attention heads (both attentions).
        mlp_ratio: MLP hidden width / C.
        drop_path: stochastic depth rate of the three residual branches.
        fused_attn: use PyTorch's fused attention; False computes the softmax
            explicitly, like the official code, for exact parity checks.

    Shapes: ``x [B, H, W, T, C]`` in and out.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 fused_attn: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=True)
        self.temporal_norm1 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.temporal_attn = Attention(dim, num_heads=num_heads, qkv_bias=True)
        self.temporal_fc = nn.Linear(dim, dim)
        self.drop_path = (
            DropPath(drop_path) if drop_path > 0 else nn.Identity())
        self.norm2 = nn.LayerNorm(dim, eps=NORM_EPS)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio))
        self.attn.fused_attn = fused_attn
        self.temporal_attn.fused_attn = fused_attn
        for m in self.modules():  # timm builds its own nn.Linear layers
            if type(m) is nn.Linear:
                m.__class__ = TokenLinear  # as torch's parametrize does

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, T, C = x.shape
        # time: one sequence of T tokens per (clip, position)
        xt = x.reshape(B * H * W, T, C)
        res = self.drop_path(self.temporal_attn(self.temporal_norm1(xt)))
        x = x + self.temporal_fc(res).reshape(B, H, W, T, C)
        # space: one sequence of H*W tokens per (clip, frame)
        xs = x.permute(0, 3, 1, 2, 4).reshape(B * T, H * W, C)
        res = self.drop_path(self.attn(self.norm1(xs)))
        x = x + res.reshape(B, T, H, W, C).permute(0, 2, 3, 1, 4)
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward_frame(self, x: torch.Tensor, frame: int) -> torch.Tensor:
        """``self(x)[:, :, :, frame]`` computed for that frame only:
        ``x [B, H, W, T, C]`` -> ``[B, H, W, C]``.

        The temporal attention reads the keys and values of every frame
        with the queries of ``frame``; spatial attention and MLP run on that
        frame. Stochastic depth draws what :meth:`forward` draws (per
        position, then per (clip, frame), then per clip) and applies the
        draws of ``frame``.
        """
        B, H, W, T, C = x.shape
        xt = self.temporal_norm1(x.reshape(B * H * W, T, C))
        res = self.drop_path(_attend_one_frame(self.temporal_attn, xt, frame))
        x = x[:, :, :, frame] + self.temporal_fc(res).reshape(B, H, W, C)
        res = self.attn(self.norm1(x.reshape(B, H * W, C)))
        if self.training and isinstance(self.drop_path, DropPath):
            keep = self.drop_path(res.new_ones(B * T, 1, 1))
            res = res * keep.view(B, T, 1, 1)[:, frame]
        x = x + res.reshape(B, H, W, C)
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _attend_one_frame(attn: Attention, x: torch.Tensor,
                      frame: int) -> torch.Tensor:
    """``attn(x)[:, frame:frame + 1]`` with only that query computed:
    ``x [N, T, C]`` -> ``[N, 1, C]`` (timm's ``Attention`` as the blocks
    build it: no qk-norm, no gate)."""
    N, T, C = x.shape
    qkv = attn.qkv(x).reshape(N, T, 3, attn.num_heads, attn.head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [N, heads, T, d]
    q = q[:, :, frame:frame + 1]
    if attn.fused_attn:
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.)
    else:
        weights = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        out = attn.attn_drop(weights) @ v
    out = out.transpose(1, 2).reshape(N, 1, attn.attn_dim)
    return attn.proj_drop(attn.proj(out))


class TimeSformer(nn.Module):
    """Divided space-time TimeSformer over feature-map clips.

    Args:
        depth: number of blocks (HD-VILA: 4).
        num_frames: frames T0 of ``time_embed`` (HD-VILA: 7).
        H: rows H0 of ``pos_embed`` (HD-VILA: 10).
        W: columns W0 of ``pos_embed`` (HD-VILA: 16).
        embed_dim: channels C (HD-VILA: the hidden size, 1024).
        num_heads: attention heads (HD-VILA: 16).
        mlp_ratio: MLP hidden width / C.
        drop_path_rate: stochastic depth of the last block; block ``i`` gets
            ``drop_path_rate * i / (depth - 1)`` (official default 0.1).
        fused_attn: see :class:`DividedSpaceTimeBlock`.

    Initialisation as the official module: ``pos_embed`` truncated normal
    (std 0.02), ``time_embed`` zeros, Linear weights truncated normal (std
    0.02) with zero biases, LayerNorms 1 / 0, and every ``temporal_fc``
    zeros (the official loop meant to spare the first block, but counts the
    block list itself first, so it zeroes them all).
    """

    def __init__(self,
                 depth: int = 4,
                 num_frames: int = 7,
                 H: int = 10,
                 W: int = 16,
                 embed_dim: int = 1024,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.1,
                 fused_attn: bool = True) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f'TimeSformer: embed_dim {embed_dim} is not a '
                             f'multiple of num_heads {num_heads}')
        self.H, self.W = H, W
        self.pos_embed = nn.Parameter(torch.zeros(1, H * W, embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            DividedSpaceTimeBlock(embed_dim, num_heads, mlp_ratio, rate,
                                  fused_attn) for rate in rates
        ])
        self._init_weights()

    def _init_weights(self) -> None:
        trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:
            nn.init.zeros_(blk.temporal_fc.weight)
            nn.init.zeros_(blk.temporal_fc.bias)

    def _pos_embed(self, H: int, W: int) -> torch.Tensor:
        """``[1, H, W, 1, C]`` spatial embedding for an ``H x W`` map."""
        C = self.pos_embed.shape[-1]
        pos = self.pos_embed.transpose(1, 2).reshape(1, C, self.H, self.W)
        if (H, W) != (self.H, self.W):
            pos = F.interpolate(
                pos, size=(H, W), mode='bilinear', align_corners=False)
        return pos.permute(0, 2, 3, 1)[:, :, :, None]

    def _time_embed(self, T: int) -> torch.Tensor:
        """``[1, 1, 1, T, C]`` temporal embedding for ``T`` frames."""
        time = self.time_embed
        if T != time.shape[1]:
            time = F.interpolate(
                time.transpose(1, 2),
                size=T,
                mode='linear',
                align_corners=False).transpose(1, 2)
        return time[:, None, None]

    def forward(self,
                x: torch.Tensor,
                frame: Optional[int] = None) -> torch.Tensor:
        """``x [B, T, C, H, W]`` -> ``[B, T, C, H, W]``; with ``frame``,
        that frame of it, ``[B, C, H, W]`` (see the module doc)."""
        if x.dim() != 5 or x.shape[2] != self.pos_embed.shape[-1]:
            raise ValueError(
                f'TimeSformer: expected [B, T, {self.pos_embed.shape[-1]}, '
                f'H, W] feature maps, got {list(x.shape)}')
        B, T, C, H, W = x.shape
        x = x.permute(0, 3, 4, 1, 2)  # [B, H, W, T, C]
        x = x + self._pos_embed(H, W) + self._time_embed(T)
        if frame is None:
            for blk in self.blocks:
                x = blk(x)
            return x.permute(0, 3, 4, 1, 2)
        if not 0 <= frame < T:
            raise ValueError(f'TimeSformer: frame {frame} of {T} frames')
        for blk in self.blocks[:-1]:
            x = blk(x)
        return self.blocks[-1].forward_frame(x, frame).permute(0, 3, 1, 2)
