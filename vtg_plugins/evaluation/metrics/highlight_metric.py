"""Runner metrics for YouTube Highlights and TVSum (R²-Tuning protocol)."""
from typing import Any, Dict, List, Optional, Sequence

from vtg_plugins.registry import METRICS
from ..functional import tvsum_map, youtube_map
from .base import KeyedMetric, get_field


class _VideoSaliencyMetric(KeyedMetric):
    gt_field = ''

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            vid = get_field(s, 'vid')
            self.results.append(
                dict(
                    key=vid,
                    pred=get_field(s, 'pred_saliency_scores', 'pred_saliency'),
                    gt=get_field(s, self.gt_field)))


@METRICS.register_module()
class YouTubeHighlightsMetric(_VideoSaliencyMetric):
    """YouTube Highlights mAP (fraction, ``round(·, 5)``).

    Reads ``vid`` (the dedupe key), ``pred_saliency_scores`` (or
    ``pred_saliency``) ``[T]`` and the GT ``match`` ``[T]`` (clip labels,
    ``> 0`` = highlight; also found in the sample's ``extra``).
    """
    default_prefix = 'youtube'
    gt_field = 'match'

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        return dict(
            mAP=youtube_map([r['pred']
                             for r in results], [r['gt'] for r in results],
                            [r['key'] for r in results]))


@METRICS.register_module()
class TVSumMetric(_VideoSaliencyMetric):
    """TVSum top-5 mAP (fraction, ``round(·, 5)``).

    Reads ``vid`` (the dedupe key), ``pred_saliency_scores`` (or
    ``pred_saliency``) ``[T]`` and the GT ``anno`` ``[n, 20]`` annotator
    scores (also found in the sample's ``extra``).
    """
    default_prefix = 'tvsum'
    gt_field = 'anno'

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        return dict(
            mAP=tvsum_map([r['pred']
                           for r in results], [r['gt'] for r in results],
                          [r['key'] for r in results]))
