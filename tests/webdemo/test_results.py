"""What the demo page shows, from predictions (no browser, no Gradio)."""
import json

import pytest

from vtg_plugins.evaluation.functional.qvhighlights import eval_qvhighlights
from vtg_plugins.evaluation.submission import load_jsonl
from vtg_plugins.webdemo import (moment_rows, parse_queries, submission_lines,
                                 submission_record)

PREDS = [
    dict(
        query='a dog runs',
        vid='walk',
        duration=30.0,
        pred_relevant_windows=[[4.04, 10.0, 0.91234], [20.0, 24.0, 0.5],
                               [0.0, 2.0, 0.1]],
        pred_saliency_scores=[0.1, 0.2, 0.3]),
    dict(
        query='a cat sleeps',
        vid='walk',
        duration=30.0,
        pred_relevant_windows=[[12.0, 16.0, 0.7]],
        pred_saliency_scores=[0.3, 0.2, 0.1]),
]


def test_parse_queries_one_per_line():
    assert parse_queries(' a dog \n\n  a cat\n') == ['a dog', 'a cat']
    with pytest.raises(ValueError, match='at least one query'):
        parse_queries(' \n \n')
    with pytest.raises(ValueError, match='at least one query'):
        parse_queries(None)


def test_moment_rows_top_k_per_query_in_order():
    rows = moment_rows(PREDS, top_k=2)
    assert rows == [['a dog runs', 1, 4.0, 10.0, 0.9123],
                    ['a dog runs', 2, 20.0, 24.0, 0.5],
                    ['a cat sleeps', 1, 12.0, 16.0, 0.7]]
    with pytest.raises(ValueError, match='top_k'):
        moment_rows(PREDS, top_k=0)


def test_submission_lines_are_the_official_format():
    text = submission_lines(PREDS)
    records = [json.loads(line) for line in text.splitlines()]
    assert [r['qid'] for r in records] == [0, 1]
    assert records[0] == dict(
        qid=0,
        query='a dog runs',
        vid='walk',
        pred_relevant_windows=PREDS[0]['pred_relevant_windows'],
        pred_saliency_scores=[0.1, 0.2, 0.3])
    # a model without saliency gives none (not an empty list)
    no_sal = dict(PREDS[1], pred_saliency_scores=None)
    assert 'pred_saliency_scores' not in submission_record(no_sal, 3)


def test_submission_scores_with_the_official_evaluator(tmp_path):
    """The downloaded lines are what the QVHighlights evaluator reads: a
    ground truth equal to the top windows scores R1@0.5 = 100."""
    path = tmp_path / 'sub.jsonl'
    path.write_text(submission_lines(PREDS))
    gt = [
        dict(
            qid=qid,
            query=p['query'],
            vid=p['vid'],
            duration=p['duration'],
            relevant_windows=[p['pred_relevant_windows'][0][:2]],
            relevant_clip_ids=[0, 1, 2],
            saliency_scores=[[4, 4, 4], [2, 2, 2], [1, 1, 1]])
        for qid, p in enumerate(PREDS)
    ]
    metrics = eval_qvhighlights(load_jsonl(str(path)), gt)
    assert metrics['MR-full-R1@0.5'] == 100.0
