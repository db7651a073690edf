"""Runner metrics for video QA (HD-VILA protocols)."""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from vtg_plugins.registry import METRICS
from ..functional import (ANSWER_TYPES, index_accuracy, open_ended_accuracy)
from ..functional._utils import fmt2
from ..submission import load_json
from .base import KeyedMetric, get_field


def _pred_index(s: Any) -> int:
    pred = get_field(s, 'pred_label', 'pred_answer', 'pred_score',
                     'pred_scores')
    return int(np.argmax(pred)) if np.ndim(pred) else int(pred)


@METRICS.register_module()
class OpenEndedQAMetric(KeyedMetric):
    """Open-ended QA exact-match accuracy, overall and per answer type.

    Reads ``question_id`` (dedupe key), ``pred_label`` (answer index; or
    ``pred_score(s)`` ``[num_answers]`` → argmax), GT ``answer`` (string)
    and ``answer_type``.

    Args:
        ans2label (dict | str): answer → label index, or a json file of it.
        task (str, optional): ``'msrvtt_qa'`` or ``'frameqa'`` to report
            per answer type accuracies.
    """
    default_prefix = 'qa'

    def __init__(self,
                 ans2label: Union[Mapping, str],
                 task: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(ans2label, str):
            ans2label = load_json(ans2label)
        self.label2ans = {v: k for k, v in ans2label.items()}
        if task is not None and task not in ANSWER_TYPES:
            raise ValueError(f'task must be one of {list(ANSWER_TYPES)}')
        self.task = task

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            gt = dict(answer=get_field(s, 'answer', 'gt_answer'))
            if self.task:
                gt['answer_type'] = get_field(s, 'answer_type')
            self.results.append(
                dict(
                    key=get_field(s, 'question_id'),
                    pred=_pred_index(s),
                    gt=gt))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        out = open_ended_accuracy({r['key']: r['pred']
                                   for r in results},
                                  {r['key']: r['gt']
                                   for r in results}, self.label2ans,
                                  ANSWER_TYPES.get(self.task))
        out.pop('ratios', None)
        return dict(out)


@METRICS.register_module()
class MultipleChoiceMetric(KeyedMetric):
    """Multiple-choice / index-answer accuracy (TGIF Action/Transition,
    MSRVTT-MC).

    Reads ``question_id`` (dedupe key), ``pred_label`` (or option scores
    ``pred_score(s)`` → argmax) and ``gt_label`` (or ``answer``). Returns
    ``overall_acc`` (fraction, TGIF-QA) and ``mc_accuracy`` (×100, two
    decimals, MSRVTT-MC).
    """
    default_prefix = 'mc'

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            self.results.append(
                dict(
                    key=get_field(s, 'question_id'),
                    pred=_pred_index(s),
                    gt=int(get_field(s, 'gt_label', 'answer'))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        acc = index_accuracy({r['key']: r['pred']
                              for r in results},
                             {r['key']: r['gt']
                              for r in results})
        return dict(overall_acc=acc, mc_accuracy=fmt2(100 * acc))
