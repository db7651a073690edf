"""Runner metric for few-shot classification episodes."""
from typing import Any, Dict, Hashable, List, Sequence

import numpy as np

from vtg_plugins.registry import METRICS
from ..functional import EvaluationError, few_shot_accuracy
from .base import KeyedMetric, get_field


def _order(key: Hashable):
    """Sort key that tolerates ids of mixed types."""
    return (type(key).__name__, key)


@METRICS.register_module()
class FewShotAccuracyMetric(KeyedMetric):
    """Mean episode accuracy and its 95% interval, in percent
    (:func:`~vtg_plugins.evaluation.functional.few_shot_accuracy`).

    A sample is a whole episode or one query of it: ``episode_id``, and
    ``pred_label`` / ``gt_label`` (a label or a list, one per query, of the
    same length). The dedupe key is ``(episode_id, query_idx)`` when the
    sample has ``query_idx`` (else ``sample_idx``), otherwise the
    ``episode_id`` alone, so a sample that a distributed sampler repeats is
    counted once. An episode's accuracy is the mean over all its queries;
    episodes (and the samples within one) are taken in sorted order, so the
    numbers do not depend on how ranks split them.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix.
    """
    default_prefix = 'few_shot'

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            episode = get_field(s, 'episode_id')
            query = get_field(s, 'query_idx', 'sample_idx', default=None)
            pred = np.asarray(get_field(s, 'pred_label')).reshape(-1)
            gt = np.asarray(get_field(s, 'gt_label')).reshape(-1)
            if pred.shape != gt.shape or pred.size == 0:
                raise EvaluationError(
                    f'{type(self).__name__}: episode {episode!r}'
                    f'{"" if query is None else f" query {query!r}"}: '
                    f'{pred.size} pred_label(s) for {gt.size} gt_label(s)')
            self.results.append(
                dict(
                    key=episode if query is None else (episode, query),
                    episode=episode,
                    correct=pred == gt))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        episodes: Dict[Hashable, List[dict]] = {}
        for r in self.dedupe(results):
            episodes.setdefault(r['episode'], []).append(r)
        ids = sorted(episodes, key=_order)
        correct = []
        for e in ids:
            parts = sorted(episodes[e], key=lambda r: _order(r['key']))
            correct.append(np.concatenate([r['correct'] for r in parts]))
        return few_shot_accuracy(correct, ids)
