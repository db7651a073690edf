"""``vtg evaluate``: score prediction files with the official protocols
(``tools/evaluate.py``)."""
from typing import List, Optional

from ._tools import run_tool

SUMMARY = ('score a prediction file with the official protocol of its task '
           '(QVHighlights, Ego4D-NLQ, retrieval, QA, ...)')
EXAMPLE = ('vtg evaluate qvhighlights --pred work_dirs/r2_tuning_demo/'
           'hl_val_submission.jsonl --gt work_dirs/r2_tuning_demo/data/'
           'qvhighlights_val.jsonl')


def main(argv: Optional[List[str]] = None) -> int:
    return run_tool('evaluate.py', list(argv or []), 'evaluate', SUMMARY,
                    EXAMPLE)
