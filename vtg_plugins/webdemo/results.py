"""What the demo page shows, from the inferencer's predictions.

A prediction is one dict of :meth:`MomentRetrievalInferencer.__call__`:
``query``, ``duration``, ``pred_relevant_windows`` ``[[start_s, end_s,
score], ...]`` best first, ``pred_saliency_scores`` ``[T]`` (models with
saliency) and ``vid`` (the video's file stem).
"""
import json
from typing import List, Sequence

#: column names of the moments table, in order
MOMENT_COLUMNS = ('query', 'rank', 'start (s)', 'end (s)', 'score')


def parse_queries(text: str) -> List[str]:
    """One query per non-empty line of ``text``, stripped.

    Raises:
        ValueError: when no line holds a query.
    """
    queries = [line.strip() for line in (text or '').splitlines()]
    queries = [q for q in queries if q]
    if not queries:
        raise ValueError('type at least one query (one per line)')
    return queries


def moment_rows(preds: Sequence[dict], top_k: int) -> List[list]:
    """The top ``top_k`` windows of every query as table rows
    ``[query, rank, start_s, end_s, score]`` (times rounded to 0.1 s, the
    score to 4 digits), queries in order, best window first."""
    if top_k < 1:
        raise ValueError(f'top_k must be >= 1, got {top_k}')
    rows = []
    for pred in preds:
        for rank, (start, end,
                   score) in enumerate(pred['pred_relevant_windows'][:top_k],
                                       1):
            rows.append([
                pred['query'], rank,
                round(float(start), 1),
                round(float(end), 1),
                round(float(score), 4)
            ])
    return rows


def submission_record(pred: dict, qid: int) -> dict:
    """One line of a QVHighlights submission (``qid``, ``query``, ``vid``,
    ``pred_relevant_windows``, and ``pred_saliency_scores`` where the
    model gives saliency), the fields the official evaluator reads."""
    record = dict(
        qid=qid,
        query=pred['query'],
        vid=pred.get('vid'),
        pred_relevant_windows=[[float(v) for v in w]
                               for w in pred['pred_relevant_windows']])
    if pred.get('pred_saliency_scores') is not None:
        record['pred_saliency_scores'] = [
            float(s) for s in pred['pred_saliency_scores']
        ]
    return record


def submission_lines(preds: Sequence[dict]) -> str:
    """The QVHighlights submission of ``preds`` (``qid`` = the query's
    position), one JSON line per query."""
    return ''.join(
        json.dumps(submission_record(pred, qid)) + '\n'
        for qid, pred in enumerate(preds))
