"""Recognition top-k accuracy with multi-view (multi-clip/crop) averaging.

The averaging is MMAction2's ``BaseHead.average_clip`` ('score': mean of the
raw scores over views; 'prob': mean of the softmax), the accuracy MMAction2's
``top_k_accuracy`` (reused as is, imported on use: importing mmaction's
evaluation loads torch and mmengine).
"""
from typing import Dict, Sequence

import numpy as np


def average_views(scores: np.ndarray, average: str = 'score') -> np.ndarray:
    """Average ``[N, V, C]`` per-view class scores into ``[N, C]``.

    Args:
        scores (np.ndarray): ``[N, V, C]`` scores of V views per sample.
        average (str): ``'score'`` or ``'prob'`` (softmax first).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 3:
        raise ValueError(f'expected [N, V, C] scores, got {scores.shape}')
    if average == 'prob':
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores = e / e.sum(axis=-1, keepdims=True)
    elif average != 'score':
        raise ValueError(f"average must be 'score' or 'prob', got {average!r}")
    return scores.mean(axis=1)


def multiview_top_k_accuracy(scores: np.ndarray,
                             labels: Sequence[int],
                             topk: Sequence[int] = (1, 5),
                             average: str = 'score') -> Dict[str, float]:
    """Top-k accuracy after view averaging.

    Args:
        scores (np.ndarray): ``[N, V, C]`` (or ``[N, C]`` for one view).
        labels (Sequence[int]): ``[N]`` class indices.
        topk (Sequence[int]): the k values.
        average (str): view averaging, ``'score'`` or ``'prob'``.

    Returns:
        dict: ``top{k}`` accuracies as fractions.
    """
    from mmaction.evaluation.functional import top_k_accuracy
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 2:
        scores = scores[:, None]
    if len(scores) != len(labels):
        raise ValueError(f'{len(scores)} score rows for {len(labels)} labels')
    accs = top_k_accuracy(average_views(scores, average), labels, topk)
    return {f'top{k}': float(a) for k, a in zip(topk, accs)}
