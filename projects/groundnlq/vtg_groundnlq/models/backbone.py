"""GroundNLQ backbone (``ConvTransformerBackbone``) and identity neck.

Video: masked-conv embedding -> absolute position embedding -> ``arch[2]``
local-attention blocks with video->text cross attention (the "stem") -> a
branch of ``arch[3] + arch[4]`` stride-2 blocks, the first ``arch[3]`` with
cross attention (GroundNLQ*, ``arch = [2, 4, 4, 6, 0]``), the rest without
(GroundNLQ, ``[2, 4, 4, 0, 6]``). Text: masked-conv (kernel 1) embedding ->
``arch[1]`` global self-attention blocks. As ``libs/modeling/backbones.py`` /
``necks.py`` of github.com/houzhijian/GroundNLQ.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from .attention import TransformerBlock
from .blocks import LayerNorm, MaskedConv1D, position_embedding, \
    sinusoid_encoding


class ConvTransformerBackbone(nn.Module):
    """Video/text backbone returning a feature pyramid.

    Args:
        n_vid_in, n_txt_in (int): input feature sizes (2304 / 512).
        n_embd (int): model width.
        n_head (int): attention heads.
        n_embd_ks (int): video embedding conv kernel.
        max_len (int): position-table length (``max_seq_len``).
        arch (Sequence[int]): ``(#embd convs, #text blocks, #video stem
            blocks, #branch blocks with cross attention, #branch blocks
            without)``.
        mha_win_size (Sequence[int]): local window per level (``1 + #branch``
            values, the first for the stem).
        scale_factor (int): branch downsampling.
        with_ln (bool): LayerNorm after embedding convs.
        proj_pdrop, path_pdrop (float): dropout / drop-path rates.
        use_abs_pe (bool): add the sinusoid table (scaled by
            ``n_embd ** -0.5``).
    """

    def __init__(self,
                 n_vid_in: int,
                 n_txt_in: int,
                 n_embd: int,
                 n_head: int,
                 n_embd_ks: int,
                 max_len: int,
                 arch: Sequence[int] = (2, 4, 4, 0, 6),
                 mha_win_size: Sequence[int] = (9, ) * 7,
                 scale_factor: int = 2,
                 with_ln: bool = True,
                 proj_pdrop: float = 0.0,
                 path_pdrop: float = 0.0,
                 use_abs_pe: bool = True) -> None:
        super().__init__()
        if len(arch) != 5 or len(mha_win_size) != 1 + arch[3] + arch[4]:
            raise ValueError(f'arch must have 5 entries and mha_win_size '
                             f'1 + arch[3] + arch[4]; got {arch}, '
                             f'{mha_win_size}')
        self.max_len = max_len
        self.use_abs_pe = use_abs_pe
        if use_abs_pe:
            self.register_buffer(
                'pos_embd',
                sinusoid_encoding(max_len, n_embd) / (n_embd**0.5),
                persistent=False)

        def embd(n_in: int, ks: int) -> Tuple[nn.ModuleList, nn.ModuleList]:
            convs, norms = nn.ModuleList(), nn.ModuleList()
            for i in range(arch[0]):
                convs.append(
                    MaskedConv1D(
                        n_in if i == 0 else n_embd,
                        n_embd,
                        ks,
                        bias=not with_ln))
                norms.append(LayerNorm(n_embd) if with_ln else nn.Identity())
            return convs, norms

        self.vid_embd, self.vid_embd_norm = embd(n_vid_in, n_embd_ks)
        self.txt_embd, self.txt_embd_norm = embd(n_txt_in, 1)
        common = dict(proj_pdrop=proj_pdrop, path_pdrop=path_pdrop)
        self.vid_stem = nn.ModuleList(
            TransformerBlock(
                n_embd,
                n_head,
                mha_win_size=mha_win_size[0],
                use_cross_modal=True,
                **common) for _ in range(arch[2]))
        self.txt_stem = nn.ModuleList(
            TransformerBlock(n_embd, n_head, mha_win_size=-1, **common)
            for _ in range(arch[1]))
        # the official code indexes mha_win_size[1 + idx] separately within
        # each group of branch blocks; kept for checkpoint/behaviour parity
        self.branch = nn.ModuleList(
            TransformerBlock(
                n_embd,
                n_head,
                n_ds_stride=scale_factor,
                mha_win_size=mha_win_size[1 + i],
                use_cross_modal=True,
                **common) for i in range(arch[3]))
        self.branch.extend(
            TransformerBlock(
                n_embd,
                n_head,
                n_ds_stride=scale_factor,
                mha_win_size=mha_win_size[1 + i],
                **common) for i in range(arch[4]))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, vid: Tensor, vid_mask: Tensor, txt: Tensor,
                txt_mask: Tensor,
                lengths: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """
        Args:
            vid (Tensor): ``[B, Dv, T]`` padded video features.
            vid_mask (Tensor): ``[B, 1, T]`` bool.
            txt (Tensor): ``[B, Dt, L]`` padded query features.
            txt_mask (Tensor): ``[B, 1, L]`` bool.
            lengths (Tensor): ``[B]`` per-clip padded lengths that decide the
                position table (see :func:`position_embedding`).

        Returns:
            tuple[list[Tensor]]: per level ``[B, C, T / 2^l]`` features and
            ``[B, 1, T / 2^l]`` bool masks.
        """
        relu = torch.relu
        for conv, norm in zip(self.vid_embd, self.vid_embd_norm):
            vid, vid_mask = conv(vid, vid_mask)
            vid = relu(norm(vid))
        if self.use_abs_pe:
            pe = position_embedding(self.pos_embd, lengths, self.max_len,
                                    vid.shape[-1])
            vid = vid + pe * vid_mask.to(vid.dtype)
        for conv, norm in zip(self.txt_embd, self.txt_embd_norm):
            txt, txt_mask = conv(txt, txt_mask)
            txt = relu(norm(txt))
        for block in self.txt_stem:
            txt, txt_mask = block(txt, txt_mask)
        for block in self.vid_stem:
            vid, vid_mask = block(vid, vid_mask, txt, txt_mask)
        feats, masks = [vid], [vid_mask]
        for block in self.branch:
            vid, vid_mask = block(vid, vid_mask, txt, txt_mask)
            feats.append(vid)
            masks.append(vid_mask)
        return feats, masks


class IdentityNeck(nn.Module):
    """Per-level LayerNorm (``FPNIdentity`` with ``with_ln=True``)."""

    def __init__(self, num_levels: int, channels: int) -> None:
        super().__init__()
        self.fpn_norms = nn.ModuleList(
            LayerNorm(channels) for _ in range(num_levels))

    def forward(self, feats: List[Tensor]) -> List[Tensor]:
        return [norm(f) for norm, f in zip(self.fpn_norms, feats)]
