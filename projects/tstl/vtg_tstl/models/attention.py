"""The one attention kernel every TSTL attention layer calls.

All attention in the backbone (CLIP self-attention, VideoMAE
self-attention, the two B-CAST cross-attentions) goes through
:func:`multi_head_attention`, looked up on this module at call time, so a
benchmark or a test can swap in another formulation with
``unittest.mock.patch('vtg_tstl.models.attention.multi_head_attention',
explicit_attention)``.
"""
import math

import torch.nn.functional as F
from torch import Tensor

__all__ = ['multi_head_attention', 'explicit_attention']


def multi_head_attention(q: Tensor,
                         k: Tensor,
                         v: Tensor,
                         dropout_p: float = 0.0) -> Tensor:
    """Softmax attention with the ``1 / sqrt(d)`` scale, through
    :func:`torch.nn.functional.scaled_dot_product_attention`.

    Args:
        q (Tensor): queries ``[B, heads, Nq, d]`` (any strides with a
            unit last-dim stride).
        k (Tensor): keys ``[B, heads, Nk, d]``.
        v (Tensor): values ``[B, heads, Nk, d]``.
        dropout_p (float): dropout on the attention weights; the caller
            passes 0 outside training.

    Returns:
        Tensor: ``[B, heads, Nq, d]``.
    """
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


def explicit_attention(q: Tensor,
                       k: Tensor,
                       v: Tensor,
                       dropout_p: float = 0.0) -> Tensor:
    """The same attention written out (scores, softmax, weighted sum), as
    the official code computes it: the plain baseline of the benchmark and
    the reference of the tests. Shapes as :func:`multi_head_attention`."""
    attn = (q * (1.0 / math.sqrt(q.shape[-1]))) @ k.transpose(-2, -1)
    attn = attn.softmax(dim=-1)
    if dropout_p > 0.0:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v
