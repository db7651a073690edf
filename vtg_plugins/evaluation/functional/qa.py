"""Video QA accuracy (HD-VILA, microsoft/XPretrain ``hd-vila/src``).

* open-ended (MSRVTT-QA, TGIF-FrameQA): ``dataset_video_qa.py:
  evaluate_tgif_qa`` — the predicted label index is mapped through
  ``label2ans`` and compared with the GT answer string; GT answers outside
  the vocabulary can never match. Accuracy overall and per answer type
  (0 for a type without questions), plus the type ratios.
* multiple choice / index answers (TGIF Action/Transition, MSRVTT-MC):
  ``np.mean(gt == pred)``; MSRVTT-MC reports ``f"{100 * acc:.2f}"``.
"""
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from ._utils import EvaluationError, check_same_ids

#: answer types of the official evaluator, in its order.
ANSWER_TYPES = {
    'msrvtt_qa': ('what', 'who', 'how', 'where', 'when'),
    'frameqa': ('object', 'number', 'color', 'location'),
}


def open_ended_accuracy(
        pred: Mapping,
        gt: Mapping,
        label2ans: Mapping,
        answer_types: Optional[Sequence[str]] = None) -> 'OrderedDict':
    """Exact-match accuracy of predicted answer indices.

    Args:
        pred (Mapping): ``{question_id: answer label index}``.
        gt (Mapping): ``{question_id: {"answer": str, "answer_type": str}}``
            (``answer_type`` only needed with ``answer_types``).
        label2ans (Mapping): ``{label index: answer string}``.
        answer_types (Sequence[str], optional): types to report, e.g.
            ``ANSWER_TYPES['msrvtt_qa']``.

    Returns:
        OrderedDict: ``overall_acc``, ``{type}_acc`` and ``ratios``
        (``{type}_ratio: [fraction, count]``), fractions in [0, 1].
    """
    if len(pred) == 0:
        raise EvaluationError('qa: no predictions')
    qids = list(pred)
    missing = [q for q in qids if q not in gt]
    if missing:
        raise EvaluationError(f'qa: question_id {missing[0]!r} not in GT')
    try:
        preds = np.array([label2ans[pred[q]] for q in qids])
    except KeyError as e:
        raise EvaluationError(f'qa: predicted label {e.args[0]!r} is not in '
                              f'label2ans') from None
    gts = np.array([gt[q]['answer'] for q in qids])
    correct = preds == gts
    out = OrderedDict(overall_acc=float(np.mean(correct)))
    if answer_types:
        types = np.array([gt[q]['answer_type'] for q in qids])
        ratios = OrderedDict()
        for t in answer_types:
            sel = correct[types == t]
            out[f'{t}_acc'] = float(np.mean(sel)) if len(sel) else 0
            ratios[f'{t}_ratio'] = [1. * len(sel) / len(types), len(sel)]
        out['ratios'] = ratios
    return out


def index_accuracy(pred: Mapping,
                   gt: Mapping,
                   force_same: bool = True) -> float:
    """Accuracy of predicted answer / option indices (fraction).

    Args:
        pred (Mapping): ``{question_id: index}``.
        gt (Mapping): ``{question_id: index}``.
        force_same (bool): require the same ids (MSRVTT-MC's default).
    """
    if len(pred) == 0:
        raise EvaluationError('mc: no predictions')
    if force_same:
        check_same_ids(pred, gt, 'mc')
    missing = [q for q in pred if q not in gt]
    if missing:
        raise EvaluationError(f'mc: question_id {missing[0]!r} not in GT')
    qids = list(pred)
    return float(
        np.mean(
            np.array([gt[q]
                      for q in qids]) == np.array([pred[q] for q in qids])))


def multiple_choice_accuracy(scores: np.ndarray,
                             answers: np.ndarray) -> Dict[str, str]:
    """MSRVTT-MC: argmax over the option scores, ``mc_accuracy`` string.

    Args:
        scores (np.ndarray): ``[B, n_options]`` video·option scores.
        answers (np.ndarray): ``[B]`` GT option index.
    """
    pred = np.asarray(scores).argmax(axis=1)
    acc = np.mean(np.asarray(answers) == pred)
    return {'mc_accuracy': f'{100 * acc:.2f}'}
