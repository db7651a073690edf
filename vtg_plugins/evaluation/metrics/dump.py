"""``DumpSubmission``: write predictions in the official submission format
(``tools/test.py --dump preds.jsonl|.json``)."""
import json
from typing import Any, Dict, List, Sequence

from vtg_plugins.registry import METRICS
from vtg_plugins.utils.io import atomic_write_text
from ..submission import (QVH_KEYS, dump_ego4d_nlq_submission,
                          dump_qvhighlights_submission)
from .base import KeyedMetric, get_field, submitted_records

_NLQ_KEYS = ('clip_uid', 'annotation_uid', 'query_idx')


@METRICS.register_module()
class DumpSubmission(KeyedMetric):
    """Collect predictions and write them, computing no metric.

    - samples with ``clip_uid`` / ``annotation_uid`` / ``query_idx`` and
      ``pred_windows`` (or ``predicted_times``, or ``pred_relevant_windows``)
      -> the Ego4D NLQ EvalAI json;
    - otherwise QVHighlights-style records (``qid``, ``query``, ``vid``,
      ``pred_relevant_windows``, ``pred_saliency_scores``) -> jsonl (one per
      line) for a ``.jsonl`` path, a json list for ``.json``; the ``qid``
      written is the sample's ``source_qid`` (the id as the annotation file
      typed it) where it has one.

    Samples repeated by the distributed sampler are written once.

    Args:
        out_file_path (str): output file (written atomically).
    """

    def __init__(self, out_file_path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if not out_file_path.endswith(('.json', '.jsonl')):
            raise ValueError(f'DumpSubmission writes .json or .jsonl files, '
                             f'got {out_file_path}')
        self.out_file_path = out_file_path

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            if get_field(s, 'clip_uid', default=None) is not None:
                rec = {k: get_field(s, k) for k in _NLQ_KEYS}
                rec['query_idx'] = int(rec['query_idx'])
                rec['predicted_times'] = get_field(s, 'pred_windows',
                                                   'predicted_times',
                                                   'pred_relevant_windows')
                key = tuple(rec[k] for k in _NLQ_KEYS)
            else:
                rec = {
                    k: get_field(s, k, default=None)
                    for k in QVH_KEYS if get_field(s, k, default=None)
                    is not None
                }
                key = rec.get('qid', rec.get('vid'))
            self.results.append(
                dict(
                    key=key,
                    source_qid=get_field(s, 'source_qid', default=None),
                    pred=rec))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        preds = submitted_records(self.dedupe(results), type(self).__name__)
        path = self.out_file_path
        if preds and 'predicted_times' in preds[0]:
            dump_ego4d_nlq_submission(preds, path)
        elif path.endswith('.jsonl'):
            dump_qvhighlights_submission(preds, path)
        else:
            atomic_write_text(path, json.dumps(preds))
        return {}
