"""Runner metrics for temporal grounding: QVHighlights (moments +
highlights), moment retrieval (Charades-STA, TACoS, R²-Tuning's Ego4D) and
the official Ego4D NLQ protocol."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.logging import print_log

from vtg_plugins.registry import METRICS
from ..functional import ego4d_nlq_metrics, eval_qvhighlights
from ..functional.qvhighlights import official_gt_record
from ..functional.ego4d_nlq import THRESHOLDS, TOPK
from ..submission import (dump_ego4d_nlq_submission,
                          dump_qvhighlights_submission, load_json)
from .base import KeyedMetric, get_field, submitted_records


def _log(line: str) -> None:
    print_log(line, logger='current')


def _gt_record(sample: Any, qid: Any, with_saliency: bool) -> dict:
    gt = dict(
        qid=qid,
        duration=float(get_field(sample, 'duration')),
        relevant_windows=get_field(sample, 'gt_windows', 'relevant_windows',
                                   'windows'))
    if with_saliency:
        ids = get_field(sample, 'relevant_clip_ids', default=None)
        if ids is not None:
            gt['relevant_clip_ids'] = ids
            gt['saliency_scores'] = get_field(sample, 'saliency_scores')
        else:
            gt['saliency'] = get_field(sample, 'saliency', 'gt_saliency')
    return official_gt_record(gt)


@METRICS.register_module()
class QVHighlightsMetric(KeyedMetric):
    """QVHighlights moment retrieval + highlight detection.

    Reads from each data sample (a dict or ``BaseDataElement``; fields are
    also looked up in its ``extra`` dict):

    - ``qid`` (the dedupe key, and the id the predictions and the GT are
      matched by), optional ``vid`` and ``query``; ``source_qid``, the id
      as the annotation file typed it, is what the submission file writes
      (``qid`` where a sample has none, see :func:`submitted_records`);
    - ``pred_relevant_windows``: ``[N, 3]`` (start s, end s, score);
    - ``pred_saliency_scores``: ``[T]`` (when ``with_saliency``);
    - GT: ``duration``, ``relevant_windows`` ``[M, 2]`` as annotated (else
      ``windows``, else ``gt_windows``; training targets may be clamped, the
      official evaluators use the annotation)
      and either ``relevant_clip_ids`` + ``saliency_scores`` (official) or
      ``saliency`` ``[[a1, a2, a3] per clip]`` (normalized annotation).

    Args:
        protocol (str): ``'official'`` (moment_detr) or ``'r2tuning'``.
        with_saliency (bool): compute the HL metrics. Defaults to True.
        on_invalid (str): ``'raise'`` or ``'miss'`` for unusable
            predictions (see :func:`eval_qvhighlights`).
        out_dir (str, optional): if set, also write the submission file
            ``submission_name`` there (atomically).
        format_only (bool): only write the submission (a split without
            ground truth, e.g. the QVHighlights test set); needs
            ``out_dir``. Defaults to False.
        submission_name (str): defaults to ``'hl_val_submission.jsonl'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix.
    """
    default_prefix = 'qvhighlights'

    def __init__(self,
                 protocol: str = 'official',
                 with_saliency: bool = True,
                 on_invalid: str = 'raise',
                 out_dir: Optional[str] = None,
                 submission_name: str = 'hl_val_submission.jsonl',
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and not out_dir:
            raise ValueError('QVHighlightsMetric(format_only=True) needs an '
                             'out_dir to write the submission to')
        self.format_only = format_only
        self.protocol = protocol
        self.with_saliency = with_saliency
        self.on_invalid = on_invalid
        self.out_dir = out_dir
        self.submission_name = submission_name

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            qid = get_field(s, 'qid')
            pred = dict(
                qid=qid,
                query=get_field(s, 'query', default=''),
                vid=get_field(s, 'vid', default=None),
                pred_relevant_windows=get_field(s, 'pred_relevant_windows'))
            if self.with_saliency:
                pred['pred_saliency_scores'] = get_field(
                    s, 'pred_saliency_scores')
            self.results.append(
                dict(
                    key=qid,
                    source_qid=get_field(s, 'source_qid', default=None),
                    pred=pred,
                    gt=_gt_record(s, qid, self.with_saliency)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        preds = [r['pred'] for r in results]
        if self.out_dir:
            records = submitted_records(results, type(self).__name__)
            dump_qvhighlights_submission(
                records, osp.join(self.out_dir, self.submission_name))
        if self.format_only:
            return {}
        return dict(
            eval_qvhighlights(
                preds, [r['gt'] for r in results],
                self.protocol,
                self.on_invalid,
                with_saliency=self.with_saliency,
                log=_log))


@METRICS.register_module()
class MomentRetrievalMetric(QVHighlightsMetric):
    """Moment retrieval only (Charades-STA, TACoS, R²-Tuning's Ego4D jsonl):
    :class:`QVHighlightsMetric` without saliency, R²-Tuning's ``vtg_eval``
    protocol by default."""
    default_prefix = 'mr'

    def __init__(self, protocol: str = 'r2tuning', **kwargs) -> None:
        kwargs.setdefault('with_saliency', False)
        super().__init__(protocol=protocol, **kwargs)


@METRICS.register_module()
class Ego4DNLQMetric(KeyedMetric):
    """Official Ego4D NLQ recall (EGO4D/episodic-memory evaluator).

    Reads ``clip_uid``, ``annotation_uid``, ``query_idx`` (the dedupe key
    is the triple; data fields, metainfo or ``extra``) and ``pred_windows``
    (or ``predicted_times``, or a model's ``pred_relevant_windows``; tensor
    or list) ``[K, >=2]`` in rank order. GT comes from ``ann_file`` (the official
    ``nlq_val.json``) or, without it, from each sample's ``gt_windows``
    (its first row) / ``gt_window`` ``[2]`` in seconds.

    Args:
        ann_file (str, optional): official NLQ annotation json.
        thresholds (Sequence[float]): IoU thresholds. Defaults to (0.3, 0.5).
        topk (Sequence[int]): R@k. Defaults to (1, 3, 5).
        on_invalid (str): ``'raise'`` or ``'miss'``.
        allow_missing (bool): score samples that cover only part of
            ``ann_file`` (the official evaluator divides by the number of
            records); by default the queries left out raise.
        out_dir (str, optional): also write the EvalAI submission
            ``submission_name`` there.
        submission_name (str): defaults to ``'nlq_submission.json'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): metric name prefix.
    """
    default_prefix = 'ego4d_nlq'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 thresholds: Sequence[float] = THRESHOLDS,
                 topk: Sequence[int] = TOPK,
                 on_invalid: str = 'raise',
                 allow_missing: bool = False,
                 out_dir: Optional[str] = None,
                 submission_name: str = 'nlq_submission.json',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.thresholds = tuple(thresholds)
        self.topk = tuple(topk)
        self.on_invalid = on_invalid
        self.allow_missing = allow_missing
        self.out_dir = out_dir
        self.submission_name = submission_name

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            rec = dict(
                clip_uid=get_field(s, 'clip_uid'),
                annotation_uid=get_field(s, 'annotation_uid'),
                query_idx=int(get_field(s, 'query_idx')),
                predicted_times=get_field(s, 'pred_windows',
                                          'predicted_times',
                                          'pred_relevant_windows'))
            key = (rec['clip_uid'], rec['annotation_uid'], rec['query_idx'])
            gt = None
            if self.ann_file is None:
                gt = get_field(s, 'gt_window', 'gt_windows')
                gt = gt[0] if gt and isinstance(gt[0], list) else gt
            self.results.append(dict(key=key, pred=rec, gt=gt))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        results = self.dedupe(results)
        preds = [r['pred'] for r in results]
        if self.out_dir:
            dump_ego4d_nlq_submission(
                preds, osp.join(self.out_dir, self.submission_name))
        if self.ann_file is not None:
            gt = load_json(self.ann_file)
        else:
            gt = {}
            for r in results:
                k = r['key']
                gt.setdefault(k[:2], {})[k[2]] = r['gt']
        return dict(
            ego4d_nlq_metrics(
                preds,
                gt,
                self.thresholds,
                self.topk,
                self.on_invalid,
                allow_missing=self.allow_missing,
                log=_log))
