"""The TSTL / CAST backbone: a CLIP ViT (spatial expert, one frame per
tubelet) and a VideoMAE ViT (temporal expert, tubelet patches) joined in
every block by B-CAST cross-attention (``TSTLBlock``).

Parameter names are the official ones, so ``backbone.<official key>`` is
our key. Sizes are arguments: ``P = (img_size / patch_size)^2`` patches per
frame and ``T' = num_frames / tubelet_size`` tubelets replace the official
constants 196 and ``all_frames // 2``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from mmengine.model import BaseModule
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from vtg_plugins.registry import MODELS
from .blocks import CLIP_LN_EPS, VIDEOMAE_LN_EPS, TSTLBlock
from .pretrained import load_pretrained_clip, load_pretrained_videomae

__all__ = ['TSTLBackbone', 'TRAINABLE_KEYS', 'is_trainable']

#: the official unfreeze rule (TSTL train_experts.py / CAST
#: run_bidirection.py): a parameter is trained iff its name contains one of
#: these (``clip_space_time_pos``, ``last_proj`` and ``fusion`` name nothing
#: in this model; the heads are trained whole)
TRAINABLE_KEYS = ('cross', 'clip_space_time_pos', 'clip_time_pos',
                  'vmae_time_pos', 'Adapter', 'ln_post', 'vmae_fc_norm',
                  'last_proj', 'fusion', 'head')


def is_trainable(name: str, keys: Sequence[str] = TRAINABLE_KEYS) -> bool:
    """Whether the official rule trains the parameter ``name``."""
    return any(k in name for k in keys)


class TubeletEmbed(nn.Module):
    """VideoMAE's patch embedding: a ``[k, p, p]`` Conv3d with stride equal
    to its kernel, ``[N, C, T, H, W] -> [N, T'*P, D]`` (tubelet-major)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int,
                 tubelet_size: int) -> None:
        super().__init__()
        kernel = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, dim, kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


@MODELS.register_module()
class TSTLBackbone(BaseModule):
    """CLIP + VideoMAE experts with B-CAST (TSTL / CAST).

    Args:
        img_size (int): input height and width. Default 224.
        patch_size (int): patch side of both experts. Default 16.
        in_channels (int): input channels. Default 3.
        embed_dim (int): width ``D``. Default 768.
        depth (int): blocks. Default 12.
        num_heads (int): heads of every attention. Default 12.
        mlp_ratio (float): MLP hidden width over ``D``. Default 4.
        down_ratio (int): B-CAST width ``D // down_ratio``. Default 2.
        adapter_ratio (float): adapter bottleneck over ``D``. Default 0.25.
        num_frames (int): input frames ``T``. Default 16.
        tubelet_size (int): VideoMAE frames per tubelet ``k``; the CLIP
            expert sees frame ``k // 2`` of each tubelet (the official
            ``1::2`` for ``k = 2``). Default 2.
        qkv_bias (bool): VideoMAE ``q_bias`` / ``v_bias``. Default True.
        drop_rate (float): dropout after the VideoMAE positions and
            projections. Default 0.
        attn_drop_rate (float): VideoMAE attention dropout. Default 0.
        drop_path_rate (float): drop path, rising linearly from 0 in the
            first block to this in the last. Default 0.2.
        clip_pretrained (str, optional): CLIP checkpoint loaded by
            :meth:`init_weights`.
        videomae_pretrained (str, optional): VideoMAE checkpoint loaded by
            :meth:`init_weights`.
        frozen (bool): train only what the official rule trains
            (:data:`TRAINABLE_KEYS`); False trains everything. Default True.
        with_cp (bool): activation checkpointing per block while gradients
            are recorded (less memory, one more forward). Default False.
        init_cfg (dict, optional): MMEngine init config, applied before the
            pretrained checkpoints.
    """

    def __init__(self,
                 img_size: int = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 embed_dim: int = 768,
                 depth: int = 12,
                 num_heads: int = 12,
                 mlp_ratio: float = 4.0,
                 down_ratio: int = 2,
                 adapter_ratio: float = 0.25,
                 num_frames: int = 16,
                 tubelet_size: int = 2,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.2,
                 clip_pretrained: Optional[str] = None,
                 videomae_pretrained: Optional[str] = None,
                 frozen: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if img_size % patch_size:
            raise ValueError(f'TSTLBackbone: img_size {img_size} is not a '
                             f'multiple of patch_size {patch_size}')
        if num_frames % tubelet_size:
            raise ValueError(f'TSTLBackbone: num_frames {num_frames} is not '
                             f'a multiple of tubelet_size {tubelet_size}')
        if (embed_dim // down_ratio) % num_heads:
            raise ValueError(f'TSTLBackbone: the B-CAST width {embed_dim} // '
                             f'{down_ratio} is not divisible by {num_heads} '
                             'heads')
        self.img_size, self.in_channels = img_size, in_channels
        self.num_frames, self.tubelet_size = num_frames, tubelet_size
        self.embed_dim = embed_dim
        self.num_patches = (img_size // patch_size)**2
        self.num_tubelets = num_frames // tubelet_size
        self.clip_frame_offset = tubelet_size // 2
        self.clip_pretrained = clip_pretrained
        self.videomae_pretrained = videomae_pretrained
        self.with_cp = with_cp

        # CLIP stem
        scale = embed_dim**-0.5
        self.clip_conv1 = nn.Conv2d(
            in_channels, embed_dim, patch_size, stride=patch_size, bias=False)
        self.clip_class_embedding = nn.Parameter(scale *
                                                 torch.randn(embed_dim))
        self.clip_positional_embedding = nn.Parameter(
            scale * torch.randn(self.num_patches + 1, embed_dim))
        self.clip_ln_pre = nn.LayerNorm(embed_dim, eps=CLIP_LN_EPS)
        # VideoMAE stem: a fixed sinusoid table, rebuilt, never saved
        self.patch_embed = TubeletEmbed(in_channels, embed_dim, patch_size,
                                        tubelet_size)
        self.register_buffer(
            'pos_embed',
            get_sinusoid_encoding(self.num_tubelets * self.num_patches,
                                  embed_dim),
            persistent=False)
        self.pos_drop = nn.Dropout(drop_rate)

        rates = torch.linspace(0, drop_path_rate, depth, device='cpu').tolist()
        self.blocks = nn.ModuleList(
            TSTLBlock(
                embed_dim,
                num_heads,
                self.num_patches,
                self.num_tubelets,
                mlp_ratio=mlp_ratio,
                down_ratio=down_ratio,
                adapter_ratio=adapter_ratio,
                qkv_bias=qkv_bias,
                drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=rate) for rate in rates)
        self.clip_ln_post = nn.LayerNorm(embed_dim, eps=CLIP_LN_EPS)
        self.vmae_fc_norm = nn.LayerNorm(embed_dim, eps=VIDEOMAE_LN_EPS)

        self._official_init()
        if frozen:
            for name, param in self.named_parameters():
                param.requires_grad_(is_trainable(name))

    def _official_init(self) -> None:
        """Linear: trunc-normal 0.02 and zero bias; LayerNorm: ones and
        zeros; then every block's adapter and B-CAST up-projections at 0.
        Convolutions, positions, class embedding and ``in_proj_weight``
        keep their construction-time init (as the official model)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            block.zero_init_branches()

    def init_weights(self) -> None:
        """``init_cfg`` first, then the CLIP and VideoMAE checkpoints (see
        :mod:`vtg_tstl.models.pretrained`); without them the official init
        of the constructor stays."""
        super().init_weights()
        if self.clip_pretrained:
            load_pretrained_clip(self, self.clip_pretrained)
        if self.videomae_pretrained:
            load_pretrained_videomae(self, self.videomae_pretrained)

    def _check_input(self, x: Tensor) -> None:
        want = (self.in_channels, self.num_frames, self.img_size,
                self.img_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != want:
            raise ValueError(f'TSTLBackbone: expected input [N, C, T, H, W] '
                             f'= [N, {", ".join(map(str, want))}], got '
                             f'{list(x.shape)}')

    def clip_tokens(self, x: Tensor) -> Tensor:
        """``[N, C, T, H, W] -> [N*T', 1+P, D]``: one frame per tubelet,
        class token, positions, ``clip_ln_pre``."""
        frames = x[:, :, self.clip_frame_offset::self.tubelet_size]
        frames = frames.transpose(1, 2).flatten(0, 1)  # [N*T', C, H, W]
        s = self.clip_conv1(frames).flatten(2).transpose(1, 2)
        cls = self.clip_class_embedding.to(s.dtype).expand(s.shape[0], 1, -1)
        s = torch.cat([cls, s], dim=1)
        return self.clip_ln_pre(s + self.clip_positional_embedding.to(s.dtype))

    def videomae_tokens(self, x: Tensor) -> Tensor:
        """``[N, C, T, H, W] -> [N, T'*P, D]``: tubelets plus the sinusoid
        table (the table first, so the sum is laid out contiguously)."""
        t = self.patch_embed(x)
        return self.pos_drop(self.pos_embed.to(t.dtype) + t)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Args:
            x (Tensor): clips ``[N, C, T, H, W]``.

        Returns:
            tuple[Tensor, Tensor]: ``clip_feat [N, D]`` (mean of the
            per-frame class tokens, ``clip_ln_post``) and ``videomae_feat
            [N, D]`` (mean of the tokens, ``vmae_fc_norm``).
        """
        self._check_input(x)
        n = x.shape[0]
        s, t = self.clip_tokens(x), self.videomae_tokens(x)
        for block in self.blocks:
            if self.with_cp and torch.is_grad_enabled():
                s, t = checkpoint(block, s, t, use_reentrant=False)
            else:
                s, t = block(s, t)
        clip_feat = self.clip_ln_post(s[:, 0].unflatten(0, (n, -1)).mean(1))
        return clip_feat, self.vmae_fc_norm(t.mean(1))
