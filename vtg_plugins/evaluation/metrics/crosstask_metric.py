"""Runner metric for CrossTask step localization (TempCLR protocol)."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from vtg_plugins.registry import METRICS
from ..functional import crosstask_recall, step_dp
from .base import KeyedMetric, get_field


@METRICS.register_module()
class CrossTaskMetric(KeyedMetric):
    """CrossTask step recall per task and its mean (``recall``).

    Reads ``task`` and ``vid`` (the pair is the dedupe key), the GT
    ``gt_assignment`` ``[T, K]`` 0/1, and either ``pred_assignment``
    ``[T, K]`` or ``pred_logits`` ``[T, K]``, which is turned into an
    assignment as the official predictor does: ``step_dp(-log_softmax)``.
    """
    default_prefix = 'crosstask'

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            pred = get_field(s, 'pred_assignment', default=None)
            if pred is None:
                logits = torch.as_tensor(get_field(s, 'pred_logits'))
                lsm = torch.log_softmax(logits.float(), dim=1)
                pred = step_dp(-lsm.numpy())
            self.results.append(
                dict(
                    key=(get_field(s, 'task'), get_field(s, 'vid')),
                    pred=np.asarray(pred),
                    gt=np.asarray(get_field(s, 'gt_assignment'))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        y_true, y_pred = {}, {}
        for r in self.dedupe(results):
            task, vid = r['key']
            y_true.setdefault(task, {})[vid] = r['gt']
            y_pred.setdefault(task, {})[vid] = r['pred']
        return crosstask_recall(y_true, y_pred)
