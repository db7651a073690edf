"""Text↔video retrieval recall, as the HowTo100M ``compute_metrics``.

Used by TempCLR (``evaluators/metric.py: RetrievalMetric``, raw dot
products) and HD-VILA (``src/utils/metrics.py: compute_metrics`` on
L2-normalised features, both directions). For every query row, the ranks of
all entries equal to the diagonal (the GT) are collected — ties give one rank
per tied entry — and R@k is the fraction of collected ranks ``< k``;
MedR/MeanR are the median/mean rank + 1. MMAction2's ``RetrievalMetric``
computes the same t2v numbers ×100 on normalised features.
"""
from collections import OrderedDict
from typing import Sequence

import numpy as np


def similarity(text: np.ndarray,
               video: np.ndarray,
               normalize: bool = False) -> np.ndarray:
    """Score matrix ``[Nt, Nv] = text @ video.T``.

    Args:
        text (np.ndarray): ``[Nt, D]`` text features.
        video (np.ndarray): ``[Nv, D]`` video features.
        normalize (bool): L2-normalise both first (HD-VILA, MMAction2);
            TempCLR uses raw dot products.
    """
    text = np.asarray(text, dtype=np.float64)
    video = np.asarray(video, dtype=np.float64)
    if normalize:
        text = text / np.linalg.norm(text, axis=-1, keepdims=True)
        video = video / np.linalg.norm(video, axis=-1, keepdims=True)
    return text @ video.T


def gt_ranks(sim: np.ndarray) -> np.ndarray:
    """0-based ranks of the diagonal entries (one per tied entry).

    Args:
        sim (np.ndarray): ``[N, N]`` scores, row i's GT is column i.

    Returns:
        np.ndarray: 1-D ranks, length >= N with ties (rows whose diagonal
        is NaN contribute none, as in the official code).
    """
    sim = np.asarray(sim)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f'retrieval needs a square [N, N] score matrix, '
                         f'got {sim.shape}')
    sx = np.sort(-sim, axis=1)
    d = np.diag(-sim)[:, None]
    return np.where(sx - d == 0)[1]


def retrieval_metrics(sim: np.ndarray,
                      ks: Sequence[int] = (1, 5, 10, 50),
                      median_only: bool = False) -> 'OrderedDict':
    """R@k (fractions), MedR and MeanR of a score matrix.

    Args:
        sim (np.ndarray): ``[N, N]`` query × target scores.
        ks (Sequence[int]): recall cut-offs.
        median_only (bool): leave out MeanR (TempCLR reports R1/5/10, MR).

    Returns:
        OrderedDict: ``R{k}``, ``MedR`` and ``MeanR``.
    """
    ind = gt_ranks(sim)
    out = OrderedDict()
    for k in ks:
        out[f'R{k}'] = float(np.sum(ind < k)) / len(ind)
    out['MedR'] = float(np.median(ind) + 1)
    if not median_only:
        out['MeanR'] = float(np.mean(ind) + 1)
    return out


def text_video_retrieval(text: np.ndarray,
                         video: np.ndarray,
                         protocol: str = 'hd_vila') -> 'OrderedDict':
    """Both directions of a paired text/video feature set.

    Args:
        text (np.ndarray): ``[N, D]``; row i describes video i.
        video (np.ndarray): ``[N, D]``.
        protocol (str): ``'hd_vila'`` (normalised, R@1/5/10/50, MedR, MeanR)
            or ``'tempclr'`` (raw dot product, R@1/5/10, MedR).

    Returns:
        OrderedDict: ``t2v_R1`` … and ``v2t_R1`` … keys.
    """
    if protocol not in ('hd_vila', 'tempclr'):
        raise ValueError(f"protocol must be 'hd_vila' or 'tempclr', "
                         f'got {protocol!r}')
    hd = protocol == 'hd_vila'
    sim = similarity(text, video, normalize=hd)
    ks = (1, 5, 10, 50) if hd else (1, 5, 10)
    out = OrderedDict()
    for name, m in (('t2v', sim), ('v2t', sim.T)):
        for k, v in retrieval_metrics(m, ks, median_only=not hd).items():
            out[f'{name}_{k}'] = v
    return out
