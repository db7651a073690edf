"""Token map ``LN -> Dropout -> Linear -> ReLU -> LN -> Dropout -> Linear``
of the R² block (official ``video_map`` / ``query_map``)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

_BITS = (1, 2, 4, 8, 16, 32, 64, 128)


def keep_mask(numel: int, p: float, generator: Optional[torch.Generator],
              device: torch.device) -> Tensor:
    """Bernoulli(1 - p) keep mask of ``numel`` elements.

    For ``p = 0.5`` (the official QVHighlights setting) each element takes
    one bit of 64-bit random words, ~5x cheaper on CPU than
    ``bernoulli_``; other ``p`` use ``rand(...) >= p``.
    """
    if p == 0.5:
        words = torch.empty((numel + 63) // 64, dtype=torch.int64,
                            device=device)
        words.random_(-2**63, 2**63 - 1, generator=generator)
        bits = torch.tensor(_BITS, dtype=torch.uint8, device=device)
        mask = (words.view(torch.uint8)[:, None] & bits).bool()
        return mask.view(-1)[:numel]
    return torch.rand(numel, generator=generator, device=device) >= p


def fast_dropout(x: Tensor, p: float, training: bool,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """Inverted dropout with :func:`keep_mask` (same scaling as
    ``F.dropout``: kept values are multiplied by ``1 / (1 - p)``). It draws
    from the default generator, so activation checkpointing replays it."""
    if not training or p == 0:
        return x
    mask = keep_mask(x.numel(), p, generator, x.device).view(x.shape)
    return (x * (1.0 / (1 - p))) * mask


class TokenMap(nn.Module):
    """Maps CLIP tokens to ``dims`` channels.

    Args:
        in_dims (int): token width.
        dims (int): output channels.
        dropout (float): dropout probability (both dropouts).
        extra_dims (int): width of per-position features appended to every
            token before the first LayerNorm (2 for the TEF).
        fast_dropout (bool): bit-mask dropout (:func:`fast_dropout`) instead
            of ``F.dropout``; same distribution and scaling.
    """

    def __init__(self,
                 in_dims: int,
                 dims: int,
                 dropout: float = 0.5,
                 extra_dims: int = 0,
                 fast_dropout: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dims + extra_dims)
        self.fc1 = nn.Linear(in_dims + extra_dims, dims)
        self.norm2 = nn.LayerNorm(dims)
        self.fc2 = nn.Linear(dims, dims)
        self.dropout = dropout
        self.extra_dims = extra_dims
        self.fast_dropout = fast_dropout

    def _norm_drop(self, x: Tensor, norm: nn.LayerNorm) -> Tensor:
        """``Dropout(LN(x))``. The fast path folds the ``1 / (1 - p)``
        scale into the LayerNorm affine (exact for ``p = 0.5``) and applies
        the keep mask with one multiplication."""
        if not (self.fast_dropout and self.training and self.dropout > 0):
            return F.dropout(norm(x), self.dropout, self.training)
        scale = 1.0 / (1 - self.dropout)
        y = F.layer_norm(x, norm.normalized_shape, norm.weight * scale,
                         norm.bias * scale, norm.eps)
        return y * keep_mask(y.numel(), self.dropout, None,
                             y.device).view(y.shape)

    def _prepare(self, x: Tensor, extra: Optional[Tensor]) -> Tensor:
        """fp32 copy of ``x`` with ``extra`` appended to every token and
        non-finite values (padding) set to 0, built in one buffer."""
        if not self.extra_dims:
            return x.float().nan_to_num(0., 0., 0.)
        if extra is None:
            raise ValueError('this token map needs extra features (TEF)')
        c = x.size(-1)
        buf = x.new_empty(x.shape[:-1] + (c + self.extra_dims, ),
                          dtype=torch.float32)
        buf[..., :c].copy_(x)
        buf[..., c:].copy_(extra.view(extra.shape[:-1] + (1, ) *
                                      (x.dim() - extra.dim()) +
                                      extra.shape[-1:]))
        return buf.nan_to_num_(0., 0., 0.)

    def forward(self, x: Tensor, extra: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            x (Tensor): ``[N, (P,) in_dims]``, any float dtype; non-finite
                values (padding) are read as 0 (official behaviour).
            extra (Tensor, optional): ``[N, extra_dims]`` appended to every
                token of position ``n``.

        Returns:
            Tensor: ``[N, (P,) dims]`` float32.
        """
        y = self.fc1(self._norm_drop(self._prepare(x, extra), self.norm1))
        return self.fc2(self._norm_drop(y.relu(), self.norm2))
