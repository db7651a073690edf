"""CrossTask step localization: the monotone one-frame-per-step dynamic
program and the recall of DmZhukov/CrossTask (``dp.pyx``, ``train.py:
get_recalls``, ``data.py: read_assignment``), also used by TempCLR
(``evaluators/metric.py: CrossTaskMetric``).

The DP runs over ``2K+1`` states per frame: even states are background
(before step 1, between steps, after step K), odd state ``2s-1`` is step
``s``. With ``exactly_one`` a step state lasts one frame, so the path picks
exactly one frame per step, in order. The Cython loop over states is
vectorized here (one numpy step per frame); ties follow the official
candidate order (stay, from k-1, from k-2; a later one wins only if strictly
smaller).
"""
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from ._utils import EvaluationError


def _step_of(k: np.ndarray) -> np.ndarray:
    return np.where(k % 2 == 0, 0, (k + 1) // 2)


def step_dp(cost: np.ndarray,
            exactly_one: bool = True,
            bg_cost: float = 0.0) -> np.ndarray:
    """Minimum-cost monotone assignment of steps to frames (``dp``).

    Args:
        cost (np.ndarray): ``[T, K]`` cost of step k at frame t (the
            official code passes ``-log_softmax`` scores, read as float32).
        exactly_one (bool): one frame per step (the evaluation setting).
        bg_cost (float): cost of a background frame.

    Returns:
        np.ndarray: ``[T, K]`` float32 0/1 assignment.
    """
    c = np.asarray(cost, dtype=np.float32).astype(np.float64)
    t_len, k_len = c.shape
    if exactly_one and t_len < k_len:
        raise EvaluationError(f'step_dp: {t_len} frames cannot hold '
                              f'{k_len} steps with one frame each')
    k_ext = 2 * k_len + 1
    ks = np.arange(k_ext)
    step = _step_of(ks)
    is_step = step != 0
    cols = np.maximum(step - 1, 0)
    stay_ok = ~is_step if exactly_one else np.ones(k_ext, bool)
    from2_ok = is_step & (ks >= 2)
    lval = np.full(k_ext, np.nan)
    lval[0] = 0.0
    valid = np.zeros(k_ext, bool)
    valid[0] = True
    back = np.full((t_len + 1, k_ext), -1, dtype=np.int64)
    back[0, 0] = 0
    for t in range(1, t_len + 1):
        label = np.where(valid & stay_ok, ks, -1)
        val = np.where(label >= 0, lval, np.nan)
        for shift, ok in ((1, ks >= 1), (2, from2_ok)):
            j = ks - shift
            lj = lval[np.maximum(j, 0)]
            take = ok & valid[np.maximum(j, 0)] & ((label == -1) | (val > lj))
            label = np.where(take, j, label)
            val = np.where(take, lj, val)
        lval = val + np.where(is_step, c[t - 1, cols], bg_cost)
        valid = label != -1
        back[t] = label
    y = np.zeros((t_len, k_len), dtype=np.float32)
    last, prev = k_ext - 1, k_ext - 2
    k = last if (not valid[prev] or
                 (valid[last] and lval[last] < lval[prev])) else prev
    for t in range(t_len, 0, -1):
        s = step[k]
        if s > 0:
            y[t - 1, s - 1] = 1
        k = back[t, k]
    return y


def read_assignment(
        num_frames: int, num_steps: int,
        segments: Sequence[Tuple[int, float, float]]) -> np.ndarray:
    """GT ``[T, K]`` uint8 from ``(step, start, end)`` rows of a CrossTask
    annotation csv (1-based step; frames ``floor(start):ceil(end)``)."""
    y = np.zeros((num_frames, num_steps), dtype=np.uint8)
    for step, start, end in segments:
        step = int(step)
        if not 1 <= step <= num_steps:
            raise EvaluationError(f'crosstask: step {step} outside '
                                  f'1..{num_steps}')
        y[int(np.floor(float(start))):int(np.ceil(float(end))), step - 1] = 1
    return y


def crosstask_recall(
        y_true: Mapping[str, Mapping[str, np.ndarray]],
        y_pred: Mapping[str, Mapping[str, np.ndarray]]) -> Dict[str, float]:
    """Per-task step recall and their unweighted mean (``get_recalls``).

    For each task: sum over the videos present in both of
    ``sum(y_true * y_pred)`` divided by the sum of the number of steps with
    at least one annotated frame. Tasks come from ``y_true``.

    Args:
        y_true (Mapping): ``{task: {vid: [T, K] 0/1}}``.
        y_pred (Mapping): ``{task: {vid: [T, K] 0/1}}`` (e.g. ``step_dp``).

    Returns:
        dict: ``{task: recall}`` and ``recall`` (the mean over tasks).
    """
    out = {}
    for task, ys_true in y_true.items():
        ys_pred = y_pred.get(task, {})
        match = total = 0
        for vid in set(ys_pred).intersection(ys_true):
            yt, yp = np.asarray(ys_true[vid]), np.asarray(ys_pred[vid])
            if yt.shape != yp.shape:
                raise EvaluationError(f'crosstask: task {task!r} video '
                                      f'{vid!r}: shapes {yt.shape} (GT) '
                                      f'and {yp.shape} (prediction) differ')
            total += (yt.sum(axis=0) > 0).sum()
            match += (yt * yp).sum()
        if total == 0:
            raise EvaluationError(f'crosstask: task {task!r} has no '
                                  f'annotated step in the predicted videos')
        out[str(task)] = float(match / total)
    if not out:
        raise EvaluationError('crosstask: no task to evaluate')
    out['recall'] = float(np.mean(list(out.values())))
    return out
