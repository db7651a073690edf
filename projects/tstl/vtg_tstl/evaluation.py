"""EPIC-Kitchens-100 verb / noun / action accuracy, as CAST reports it.

CAST's ``engine_for_compomodel.merge`` (the numbers of its test runs)
averages each video's per-view softmax scores of nouns and of verbs, then
counts, per video:

* noun (verb) top-k: the label is among the k best averaged scores;
* action top-1: the best noun *and* the best verb are right (the action id
  ``verb * 1000 + noun`` of the prediction equals the label's);
* action top-5: the noun label is in the noun top-5 *and* the verb label in
  the verb top-5 (each ranked on its own, not joint pairs).

Scores come from the head already merged over the test views
(``average_clips='prob'``, the same softmax mean), ``[C]`` per sample, or per
view (``[V, C]``, ``average_clips=None``), merged here by the softmax mean.
Accuracies are fractions in ``[0, 1]``, as MMAction2's ``AccMetric`` gives
them (CAST prints percents).
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from vtg_plugins.evaluation.functional import EvaluationError
from vtg_plugins.evaluation.functional.recognition import average_views
from vtg_plugins.evaluation.metrics.base import get_field
from vtg_plugins.registry import METRICS

#: (prediction field, label field, name in the results) per task
TASKS = (('pred_verb_score', 'verb_label', 'verb'),
         ('pred_noun_score', 'noun_label', 'noun'))


def _ranking(scores: np.ndarray) -> np.ndarray:
    """Classes from best to worst (ties: the lower class first, as
    ``argmax``)."""
    return np.argsort(-scores, kind='stable')


@METRICS.register_module()
class EpicKitchensMetric(BaseMetric):
    """Verb, noun and action accuracy of EPIC-Kitchens-100.

    Reads ``pred_verb_score`` / ``pred_noun_score`` (``[97]`` / ``[300]``,
    or ``[V, C]`` per view) and ``verb_label`` / ``noun_label`` of each data
    sample. Results (with the prefix, ``acc/``): ``verb_top1``,
    ``verb_top5``, ``noun_top1``, ``noun_top5``, ``action_top1``,
    ``action_top5`` (see the module doc), fractions.

    Args:
        topk (Sequence[int]): the k of the verb / noun accuracies; action
            accuracy is given for k = 1 and, when listed, k = 5.
        collect_device (str): as ``BaseMetric``.
        prefix (str, optional): as ``BaseMetric`` (default ``'acc'``).
    """
    default_prefix: Optional[str] = 'acc'

    def __init__(self,
                 topk: Sequence[int] = (1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not topk or any(int(k) < 1 for k in topk):
            raise ValueError(f'EpicKitchensMetric: topk must be positive ints,'
                             f' got {topk!r}')
        self.topk = tuple(int(k) for k in topk)

    def _sample(self, sample: Any) -> Dict[str, Any]:
        """The merged scores and the labels of one data sample, checked."""
        where = f'EpicKitchensMetric: data sample {len(self.results)}'
        filename = get_field(sample, 'filename', default=None)
        if filename is not None:
            where += f' ({filename})'
        result = {}
        for score_key, label_key, task in TASKS:
            scores = np.asarray(get_field(sample, score_key), np.float64)
            if scores.ndim == 2:
                scores = average_views(scores[None], 'prob')[0]
            if scores.ndim != 1 or not np.isfinite(scores).all():
                raise EvaluationError(
                    f'{where}: {score_key} must be finite [C] or [V, C] '
                    f'scores, got shape {scores.shape}'
                    f'{"" if np.isfinite(scores).all() else " with NaN/inf"}')
            label = get_field(sample, label_key)
            label = int(np.asarray(label).reshape(-1)[0])
            if not 0 <= label < len(scores):
                raise EvaluationError(f'{where}: {label_key} {label} is '
                                      f'outside the {len(scores)} classes '
                                      f'of {score_key}')
            result[task] = (_ranking(scores)[:max(self.topk)], label)
        return result

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            self.results.append(self._sample(sample))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        hits = {}
        for task in ('verb', 'noun'):
            for k in self.topk:
                hits[f'{task}_top{k}'] = [
                    label in ranked[:k] for ranked, label in
                    (r[task] for r in results)
                ]
        for k in sorted({1} | ({5} & set(self.topk))):
            hits[f'action_top{k}'] = [
                r['verb'][1] in r['verb'][0][:k]
                and r['noun'][1] in r['noun'][0][:k] for r in results
            ]
        return {name: float(np.mean(h)) for name, h in hits.items()}
