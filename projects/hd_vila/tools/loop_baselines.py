"""The per-query formulation of HD-VILA's retrieval evaluation, which
``benchmark.py`` times ``vtg_plugins``' ``text_video_retrieval`` against,
and the features it runs on."""
import math
from collections import OrderedDict
from typing import Tuple

import numpy as np

#: recall cut-offs of the ``'hd_vila'`` protocol
KS = (1, 5, 10, 50)


def retrieval_features(pairs: int,
                       dim: int,
                       seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Float32 L2-normalised ``text, video [pairs, dim]``, text row i a
    noisy copy of video i (recall neither 0 nor 1)."""
    rng = np.random.default_rng(seed)
    video = rng.standard_normal((pairs, dim)).astype(np.float32)
    noise = 0.35 * math.sqrt(dim)
    text = video + noise * rng.standard_normal(video.shape).astype(np.float32)
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    return text, video


def loop_text_video_retrieval(text: np.ndarray,
                              video: np.ndarray) -> 'OrderedDict':
    """``text_video_retrieval(text, video, 'hd_vila')`` one query at a
    time: its scores against every target (normalised features, float64),
    sorted, and the rank of every entry equal to the GT score (a tie gives
    one rank per tied entry); R@k, MedR, MeanR of both directions."""
    text = np.asarray(text, dtype=np.float64)
    video = np.asarray(video, dtype=np.float64)
    text = text / np.linalg.norm(text, axis=-1, keepdims=True)
    video = video / np.linalg.norm(video, axis=-1, keepdims=True)
    sim = text @ video.T
    out = OrderedDict()
    for name, scores in (('t2v', sim), ('v2t', sim.T)):
        ranks = []
        for i in range(len(scores)):
            order = np.sort(-scores[i])
            ranks.extend(np.flatnonzero(order == -scores[i, i]).tolist())
        ranks = np.asarray(ranks)
        for k in KS:
            out[f'{name}_R{k}'] = float(np.sum(ranks < k)) / len(ranks)
        out[f'{name}_MedR'] = float(np.median(ranks) + 1)
        out[f'{name}_MeanR'] = float(np.mean(ranks) + 1)
    return out
