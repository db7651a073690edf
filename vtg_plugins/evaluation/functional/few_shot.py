"""Few-shot episode accuracy and its 95% confidence interval.

Each episode's accuracy is the fraction of its queries classified right;
the reported accuracy is the mean over episodes and the interval half-width
is ``1.96 * std / sqrt(n_episodes)``, the normal approximation used by the
few-shot action-recognition literature (TRX's ``run.py``, after CNAPs /
LITE). ``std`` is the population standard deviation (``ddof=0``,
``np.std``'s default), as those scripts compute it; with the usual
10,000 test episodes the ``ddof=1`` estimate differs by a factor
``sqrt(n / (n - 1))``, i.e. 0.005%. Both numbers are percentages, as the
papers report ``accuracy ± ci95``.
"""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ._utils import PRED, EvaluationError

#: two-sided 95% quantile of the standard normal
Z_95 = 1.96


def episode_accuracies(correct: Sequence[Any],
                       episode_ids: Optional[Sequence] = None) -> np.ndarray:
    """Accuracy of each episode from its per-query correctness.

    Args:
        correct (Sequence): one sequence of 0/1 (or bool) per episode, one
            entry per query; a 2-D ``[E, Q]`` array works too.
        episode_ids (Sequence, optional): names of the episodes in error
            messages (default: their positions).

    Returns:
        np.ndarray: ``[E]`` fractions.
    """
    if len(correct) == 0:
        raise EvaluationError('few-shot accuracy: no episodes', PRED)
    names = range(len(correct)) if episode_ids is None else episode_ids
    out = np.empty(len(correct))
    for e, (name, flags) in enumerate(zip(names, correct)):
        try:
            arr = np.asarray(flags, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise EvaluationError(
                f'few-shot accuracy: episode {name!r}: expected a list of 0/1 '
                f'per query, got {flags!r}', PRED) from None
        if arr.size == 0:
            raise EvaluationError(
                f'few-shot accuracy: episode {name!r} has no queries', PRED)
        binary = np.isin(arr, (0.0, 1.0))
        if not binary.all():
            raise EvaluationError(
                f'few-shot accuracy: episode {name!r}: correctness must be '
                f'0/1 (or bool), got {arr[~binary][:3]}', PRED)
        out[e] = arr.sum() / arr.size
    return out


def accuracy_ci95(accuracies: Sequence[float]) -> Dict[str, float]:
    """Mean and 95% interval half-width (percent) of episode accuracies
    given as fractions."""
    acc = np.asarray(accuracies, dtype=np.float64)
    return {
        'accuracy': float(acc.mean() * 100.0),
        'ci95': float(Z_95 * acc.std() * 100.0 / np.sqrt(len(acc))),
    }


def few_shot_accuracy(
        correct: Sequence[Any],
        episode_ids: Optional[Sequence] = None) -> Dict[str, float]:
    """``{'accuracy', 'ci95'}`` in percent over episodes.

    Args:
        correct (Sequence): per episode, the 0/1 correctness of each query.
        episode_ids (Sequence, optional): episode names for error messages.

    Returns:
        dict: ``accuracy`` (mean episode accuracy) and ``ci95``
        (``1.96 * std(ddof=0) / sqrt(n_episodes)``), both in percent.
    """
    return accuracy_ci95(episode_accuracies(correct, episode_ids))
