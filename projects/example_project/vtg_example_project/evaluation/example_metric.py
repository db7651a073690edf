"""The example metric: top-1 moment recall at IoU thresholds and mean IoU,
computed with the shared functional IoU."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from vtg_plugins.evaluation.functional import cross_iou
from vtg_plugins.evaluation.metrics.base import KeyedMetric, get_field
from vtg_plugins.registry import METRICS


@METRICS.register_module()
class ExampleMomentMetric(KeyedMetric):
    """``R1@{t}`` (percent of queries whose top window reaches IoU ``t``
    with a ground-truth window) and ``mIoU`` (mean best IoU, percent).

    Reads from each data sample ``qid`` (the key that drops the samples a
    distributed sampler repeats), ``pred_relevant_windows`` ``[K, 3]`` (the
    first row is scored) and ``gt_windows`` ``[N, 2]`` seconds.

    Args:
        thresholds (Sequence[float]): IoU thresholds. Default (0.5, 0.7).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix, default ``'example'``.
    """
    default_prefix = 'example'

    def __init__(self,
                 thresholds: Sequence[float] = (0.5, 0.7),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(thresholds)

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for sample in data_samples:
            qid = get_field(sample, 'qid')
            pred = np.asarray(
                get_field(sample, 'pred_relevant_windows'),
                dtype=np.float64).reshape(-1, 3)
            gt = np.asarray(
                get_field(sample, 'gt_windows'),
                dtype=np.float64).reshape(-1, 2)
            if len(pred) == 0 or len(gt) == 0:
                raise ValueError(f'qid {qid!r}: {len(pred)} predicted and '
                                 f'{len(gt)} ground-truth windows; the '
                                 'metric needs at least one of each')
            iou = np.nan_to_num(cross_iou(pred[:1, :2], gt)).max()
            self.results.append(dict(key=qid, iou=float(iou)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        ious = np.array([r['iou'] for r in self.dedupe(results)])
        metrics = {
            f'R1@{t}': float(100 * (ious >= t).mean())
            for t in self.thresholds
        }
        metrics['mIoU'] = float(100 * ious.mean())
        return metrics
