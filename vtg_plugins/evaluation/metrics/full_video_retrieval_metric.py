"""Runner metric for full-video retrieval (caption average, DTW, OTAM)."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from vtg_plugins.registry import METRICS
from ..functional import (FULL_VIDEO_PROTOCOLS, EvaluationError,
                          full_video_retrieval, similarity)
from .base import KeyedMetric, get_field


@METRICS.register_module()
class FullVideoRetrievalMetric(KeyedMetric):
    """Full-video R@1/5/10 by caption average, DTW and OTAM
    (:func:`~vtg_plugins.evaluation.functional.full_video_retrieval`).

    A sample is one clip: ``text_feature`` and ``video_feature`` ``[D]`` (its
    caption and its clip), the ``video_id`` it belongs to and its
    ``sample_idx`` (the dedupe key). Clips are ordered by ``sample_idx``, so
    the result does not depend on how ranks split the set; the scores are
    raw dot products ``text @ video.T``, as the official predictor's.

    Args:
        protocol (str): ``'exact'`` (default) or ``'official'`` (the
            official quirks, for comparing with published numbers).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix.
    """
    default_prefix = 'full_video_retrieval'

    def __init__(self,
                 protocol: str = 'exact',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if protocol not in FULL_VIDEO_PROTOCOLS:
            raise ValueError(f'protocol must be one of '
                             f'{FULL_VIDEO_PROTOCOLS}, got {protocol!r}')
        self.protocol = protocol

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            self.results.append(
                dict(
                    key=get_field(s, 'sample_idx'),
                    video_id=get_field(s, 'video_id'),
                    text=np.asarray(get_field(s, 'text_feature')),
                    video=np.asarray(get_field(s, 'video_feature'))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = sorted(self.dedupe(results), key=lambda r: r['key'])
        if not results:
            raise EvaluationError(f'{type(self).__name__}: no clips to '
                                  f'evaluate')
        scores = similarity(
            np.stack([r['text'] for r in results]),
            np.stack([r['video'] for r in results]))
        return dict(
            full_video_retrieval(scores, [r['video_id'] for r in results],
                                 self.protocol))
