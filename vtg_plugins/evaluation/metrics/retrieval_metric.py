"""Runner metric for text↔video retrieval (TempCLR / HD-VILA protocols)."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from vtg_plugins.registry import METRICS
from ..functional import retrieval_protocol, text_video_retrieval
from .base import KeyedMetric, get_field


@METRICS.register_module()
class TextVideoRetrievalMetric(KeyedMetric):
    """t2v and v2t R@k, MedR (and MeanR) over paired features.

    Reads ``text_feature`` and ``video_feature`` ``[D]`` (also inside a
    ``features`` dict, as MMAction2's ``RetrievalMetric`` does) and a key
    (``qid``, else ``sample_idx``) used to drop distributed duplicates;
    sample i's text is the GT of sample i's video.

    Args:
        protocol (str): ``'hd_vila'`` (L2-normalised, R@1/5/10/50, MedR,
            MeanR) or ``'tempclr'`` (raw dot product, R@1/5/10, MedR).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix.
    """
    default_prefix = 'retrieval'

    def __init__(self,
                 protocol: str = 'hd_vila',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        retrieval_protocol(protocol)  # raises on an unknown name
        self.protocol = protocol

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            feats = get_field(s, 'features', default=None) or s
            key = get_field(
                s, 'qid', 'sample_idx', default=(id(self), len(self.results)))
            self.results.append(
                dict(
                    key=key,
                    text=np.asarray(get_field(feats, 'text_feature')),
                    video=np.asarray(get_field(feats, 'video_feature'))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        return dict(
            text_video_retrieval(
                np.stack([r['text'] for r in results]),
                np.stack([r['video'] for r in results]), self.protocol))
