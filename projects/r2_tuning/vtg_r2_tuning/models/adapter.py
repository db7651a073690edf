"""The R² block: shared token maps over the last ``k`` CLIP layers,
query-modulated spatial pooling, gated recurrence from the deepest layer
down, and the temporal refinement decoder.

Follows ``R2Block`` of github.com/yeliudev/R2-Tuning (models/adapter.py),
Liu et al., "R²-Tuning: Efficient Image-to-Video Transfer Learning for Video
Temporal Grounding", arXiv 2404.00801.
"""
from contextlib import contextmanager
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.checkpoint import (CheckpointPolicy, checkpoint,
                                    create_selective_checkpoint_contexts)

from .token_map import TokenMap
from .transformer import TemporalDecoderLayer, sine_positional_encoding


# Selective activation checkpointing of the streamed frames keeps only the
# outputs of the matmuls that shrink their input (the 770 -> 256 input
# projection of the video map, the one costly to recompute); everything
# else (770-wide LayerNorm / dropout / ReLU, the 256-wide maps and the
# pooling) is recomputed in backward, the dropout masks replayed from the
# preserved RNG state.
_MATMULS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default)


def _checkpoint_policy(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    if op in _MATMULS and args[-1].size(0) > args[-1].size(1):
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


def _checkpoint_context():
    return create_selective_checkpoint_contexts(_checkpoint_policy)


@contextmanager
def _uncached_autocast(device_type: str):
    """Autocast as it is, but without its weight-cast cache. Selective
    checkpointing replays the op sequence of the forward; with the cache the
    forward skips repeated weight casts that the recompute then issues, and
    backward fails ("_to_copy ... not found in storage"). Checkpointing
    records ``cache_enabled``, so the recompute runs uncached too."""
    if not torch.is_autocast_enabled(device_type):
        yield
        return
    with torch.autocast(
            device_type,
            dtype=torch.get_autocast_dtype(device_type),
            cache_enabled=False):
        yield


def temporal_endpoint_features(lengths: Tensor, num_pos: int) -> Tensor:
    """TEF ``[s, s + 1/T]`` with ``s = t / T`` (official
    ``arange(0, 1, 1/T)``), ``T`` given per sample.

    Args:
        lengths (Tensor): ``[B]`` normalising length per sample.
        num_pos (int): positions to produce.

    Returns:
        Tensor: ``[B, num_pos, 2]`` float32.
    """
    step = 1.0 / lengths.double()
    start = (torch.arange(num_pos, device=lengths.device).double()[None] *
             step[:, None]).float()
    return torch.stack((start, start + step.float()[:, None]), dim=-1)


class R2Block(nn.Module):
    """R² block over cached CLIP tokens.

    Args:
        dims (int): hidden channels ``C`` (256).
        video_dims (int): CLIP visual width ``Cv``.
        query_dims (int): CLIP text width ``Cq``.
        k (int): number of CLIP layers used (the last ``k``).
        dropout (float): dropout inside the token maps.
        use_tef (bool): append the 2 temporal endpoint features to every
            visual token.
        heads (int), ffn_ratio (int), droppath (float): decoder settings.
        chunk_tokens (int): visual tokens per chunk of the streamed
            per-frame part (video map + spatial pooling). When training, each
            chunk is selectively checkpointed: only the ``Cv+2 -> C``
            projection output is kept, the rest is recomputed in backward,
            so no ``[B, T, P, Cv + 2]`` activation is ever stored.
            ``0`` runs it on the whole ``[B, T, P, C]`` tensor at once with
            ``F.dropout`` and plain autograd, the official formulation (the
            benchmark's baseline).
    """

    def __init__(self,
                 dims: int = 256,
                 video_dims: int = 768,
                 query_dims: int = 512,
                 k: int = 4,
                 dropout: float = 0.5,
                 use_tef: bool = True,
                 heads: int = 8,
                 ffn_ratio: int = 4,
                 droppath: float = 0.1,
                 chunk_tokens: int = 2048) -> None:
        super().__init__()
        self.dims, self.k, self.use_tef = dims, k, use_tef
        self.chunk_tokens = chunk_tokens
        self.video_map = TokenMap(
            video_dims, dims, dropout, extra_dims=2 if use_tef else 0,
            fast_dropout=chunk_tokens > 0)
        self.query_map = TokenMap(query_dims, dims, dropout)
        if k > 1:
            self.gate = nn.Parameter(torch.zeros(k - 1))
        self.v_map = nn.Linear(dims, dims)
        self.q_map = nn.Linear(dims, dims)
        self.scale = nn.Parameter(torch.zeros(k))
        self.tem = TemporalDecoderLayer(dims, heads, ffn_ratio, droppath)

    def _frames(self, x: Tensor, tef: Optional[Tensor], q: Tensor,
                qm: Tensor, sample: Tensor, keep: Optional[Tensor],
                i: int) -> Tuple[Tensor, Tensor]:
        """Video map and query-modulated spatial pooling of ``F`` frames.

        Args:
            x (Tensor): ``[F, P, Cv]`` raw tokens.
            tef (Tensor, optional): ``[F, 2]``.
            q, qm (Tensor): ``[B, L, C]`` mapped query and ``q_map(q)``.
            sample (Tensor): ``[F]`` batch index of every frame.
            keep (Tensor, optional): ``[B, L]`` bool; padded tokens are
                left out of the max over ``L`` (per-sample exactness). The
                official batch keeps them (``None``).

        Returns:
            tuple: pooled ``[F, C]`` and CLS token ``[F, C]``.
        """
        v = self.video_map(x, tef)  # F P C
        att = torch.matmul(qm[sample],
                           self.v_map(v).transpose(1, 2)) / self.dims**0.5
        o = torch.matmul(att.softmax(-1), v) + q[sample]  # F L C
        if keep is not None:
            o = o.masked_fill(~keep[sample, :, None], float('-inf'))
        return v[:, 0] + o.amax(dim=1) * self.scale[i].tanh(), v[:, 0]

    def _layer(self, x: Tensor, tef: Optional[Tensor], q: Tensor,
               video_mask: Tensor, keep: Optional[Tensor],
               i: int) -> Tuple[Tensor, Tensor]:
        """:meth:`_frames` over ``[B, T, P, Cv]``, streamed in chunks of
        frames with activation checkpointing when training. In exact mode
        (``keep`` given) padded frames cannot influence any valid output,
        so only valid frames are computed (their rows are 0)."""
        b, t, p, c = x.shape
        frames = x.reshape(b * t, p, c)  # a view for the official layouts
        tef = None if tef is None else tef.reshape(b * t, -1)
        sample = torch.arange(b, device=x.device).repeat_interleave(t)
        rows = None
        if keep is not None:
            rows = video_mask.reshape(-1).nonzero()[:, 0]
            frames, sample = frames[rows], sample[rows]
            tef = None if tef is None else tef[rows]
        qm = self.q_map(q)
        n = frames.size(0)
        step = n if self.chunk_tokens <= 0 else max(1, self.chunk_tokens // p)
        ckpt = self.chunk_tokens > 0 and torch.is_grad_enabled()
        pooled, cls = [], []
        for lo in range(0, n, step):
            sl = slice(lo, lo + step)
            args = (frames[sl], None if tef is None else tef[sl], q, qm,
                    sample[sl], keep, i)
            if ckpt:
                with _uncached_autocast(x.device.type):
                    out = checkpoint(self._frames, *args, use_reentrant=False,
                                     context_fn=_checkpoint_context)
            else:
                out = self._frames(*args)
            pooled.append(out[0])
            cls.append(out[1])
        pooled, cls = torch.cat(pooled), torch.cat(cls)
        if rows is not None:
            full = pooled.new_zeros(2, b * t, pooled.size(-1))
            full[0, rows], full[1, rows] = pooled, cls
            pooled, cls = full[0], full[1]
        return pooled.view(b, t, -1), cls.view(b, t, -1)

    def forward(
        self, video: Tensor, query: Tensor, video_mask: Tensor,
        query_mask: Tensor, norm_lengths: Tensor, exact: bool
    ) -> Tuple[Tensor, Tensor, List[Tensor], List[Tensor]]:
        """
        Args:
            video (Tensor): ``[B, T, K, P, Cv]`` (any float dtype, may hold
                non-finite padding, which is read as 0); the last ``k`` of
                the ``K`` layers are used, deepest last.
            query (Tensor): ``[B, L, K, Cq]``, likewise.
            video_mask (Tensor): ``[B, T]`` bool.
            query_mask (Tensor): ``[B, L]`` bool.
            norm_lengths (Tensor): ``[B]`` length that normalises the TEF and
                the positional encoding (padded T for the official batch,
                true T per sample for exactness).
            exact (bool): leave padded query tokens out of the pooling max
                and skip padded frames.

        Returns:
            tuple: ``h`` ``[B, T, C]`` (decoder output of the shallowest
            layer), ``q`` ``[B, L, C]`` (mapped query of the shallowest
            layer), ``coll_v`` (``k`` x ``[B, T, C]`` CLS tokens, deepest
            first) and ``coll_q`` (``k`` x ``[B, L, C]``, deepest first).
        """
        num_layers = video.size(2)
        if num_layers < self.k or query.size(2) < self.k:
            raise ValueError(
                f'R2Block uses the last k={self.k} CLIP layers but got '
                f'{num_layers} video and {query.size(2)} query layers')
        b, t = video.shape[:2]
        tef = (temporal_endpoint_features(norm_lengths, t)
               if self.use_tef else None)
        pe = sine_positional_encoding(norm_lengths, t, self.dims)
        query_keep = query_mask if exact else None
        coll_v, coll_q, h = [], [], None
        for i in range(self.k - 1, -1, -1):
            layer = num_layers - self.k + i
            q = self.query_map(query[:, :, layer])  # B L C
            pooled, cls = self._layer(video[:, :, layer], tef, q,
                                      video_mask, query_keep, i)
            coll_v.append(cls)
            coll_q.append(q)
            if h is not None:
                gate = self.gate[i].sigmoid()
                pooled = gate * pooled + (1 - gate) * h
            h = self.tem(pooled, q, pe, video_mask, query_mask)
        return h, q, coll_v, coll_q
