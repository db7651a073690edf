"""Pooling over the clips of a video (official ``score_agg_func``).

HD-VILA scores every clip of a video separately and pools the clip axis
with ``mean``, ``max`` or ``lse`` (log-sum-exp): the QA and MC heads pool
their logits (``run_video_qa.py``), stage-2 pre-training pools the
cross-modal states before its heads (``HDVILAForPreTraining``).
"""
import torch

#: official ``score_agg_func`` choices
CLIP_AGGREGATIONS = ('mean', 'max', 'lse')


def check_aggregation(method: str) -> str:
    """``method`` if it is one of :data:`CLIP_AGGREGATIONS`."""
    if method not in CLIP_AGGREGATIONS:
        raise ValueError(f'score_agg_func must be one of {CLIP_AGGREGATIONS}'
                         f', got {method!r}')
    return method


def aggregate_clips(x: torch.Tensor, method: str) -> torch.Tensor:
    """Pool ``x [clips, ...]`` over its first axis -> ``[...]``."""
    check_aggregation(method)
    if method == 'mean':
        return x.mean(0)
    if method == 'max':
        return x.max(0).values
    return torch.logsumexp(x, dim=0)
