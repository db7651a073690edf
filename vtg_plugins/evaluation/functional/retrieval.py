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
from typing import NamedTuple, Sequence, Tuple

import numpy as np


class RetrievalProtocol(NamedTuple):
    """How a published evaluation scores retrieval (each difference is a
    field; nothing is keyed by the name)."""
    normalize: bool  # L2-normalise the features before the dot product
    ks: Tuple[int, ...]  # recall cut-offs
    mean_rank: bool  # report MeanR besides MedR


#: published retrieval protocols by the name of the evaluation they follow
RETRIEVAL_PROTOCOLS = {
    'hd_vila': RetrievalProtocol(True, (1, 5, 10, 50), True),
    'tempclr': RetrievalProtocol(False, (1, 5, 10), False),
}


def retrieval_protocol(name: str) -> RetrievalProtocol:
    """The :class:`RetrievalProtocol` called ``name``."""
    if name not in RETRIEVAL_PROTOCOLS:
        raise ValueError(f'retrieval protocol must be one of '
                         f'{tuple(RETRIEVAL_PROTOCOLS)}, got {name!r}')
    return RETRIEVAL_PROTOCOLS[name]


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

    The official code sorts every row and looks the diagonal score up in
    it; here each row counts its entries above the diagonal (``g``) and
    equal to it (``e``, the diagonal included), whose ranks in the sorted
    row are ``g .. g + e - 1``: the same ranks without sorting (O(N^2)
    comparisons in place of O(N^2 log N)). A row whose diagonal is not
    finite contributes none, as there (``inf - inf`` is NaN, never 0).

    Args:
        sim (np.ndarray): ``[N, N]`` scores, row i's GT is column i.

    Returns:
        np.ndarray: 1-D ranks, row by row, length >= N with ties.
    """
    sim = np.asarray(sim)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f'retrieval needs a square [N, N] score matrix, '
                         f'got {sim.shape}')
    diag = np.diag(sim)[:, None]
    above = np.count_nonzero(sim > diag, axis=1)
    tied = np.count_nonzero(sim == diag, axis=1)
    tied[~np.isfinite(diag[:, 0])] = 0
    # row r contributes above[r] + 0 .. above[r] + tied[r] - 1
    starts = np.cumsum(tied) - tied
    within = np.arange(tied.sum()) - np.repeat(starts, tied)
    return np.repeat(above, tied) + within


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
    spec = retrieval_protocol(protocol)
    return both_directions(
        similarity(text, video, normalize=spec.normalize), protocol)


def both_directions(sim: np.ndarray,
                    protocol: str = 'hd_vila') -> 'OrderedDict':
    """t2v and v2t metrics of a ``[N, N]`` text × video score matrix under
    a :data:`RETRIEVAL_PROTOCOLS` entry (its ``normalize`` is not applied:
    the scores are given)."""
    spec = retrieval_protocol(protocol)
    out = OrderedDict()
    for name, m in (('t2v', sim), ('v2t', sim.T)):
        for k, v in retrieval_metrics(
                m, spec.ks, median_only=not spec.mean_rank).items():
            out[f'{name}_{k}'] = v
    return out
