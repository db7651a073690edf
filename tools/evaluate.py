"""Score prediction files offline with the official protocols.

Usage::

    python tools/evaluate.py TASK --pred FILE [--gt FILE] \
        [--protocol official|r2tuning|hd_vila|tempclr|exact] [--out FILE]

TASK and its inputs (the official formats):

- ``qvhighlights``: ``--pred`` QVHighlights submission jsonl, ``--gt`` GT
  jsonl (moment_detr format or the normalized annotation);
- ``moment_retrieval`` (aliases ``charades``, ``tacos``): the same without
  saliency; R²-Tuning's ``vtg_eval`` protocol by default;
- ``ego4d_nlq``: ``--pred`` EvalAI submission json, ``--gt`` nlq_val.json;
- ``youtube`` / ``tvsum``: ``--pred`` ``{vid: [scores]}`` json, ``--gt``
  R²-Tuning's ``youtube_anno.json`` / ``tvsum_anno.json``;
- ``retrieval``: ``--pred`` .npz with ``text`` + ``video`` ``[N, D]`` (row i
  matches row i) or ``sim`` ``[N, N]``; no ``--gt``;
- ``full_video_retrieval``: ``--pred`` .npz with ``video_ids`` ``[N]`` (the
  video of each clip, strings or integers) and either ``text`` + ``video``
  ``[N, D]`` (caption and clip features of clip i; scores are raw dot
  products) or ``sim`` ``[N, N]`` (caption t x clip c); no ``--gt``;
  ``--protocol exact`` (default) or ``official``;
- ``few_shot``: ``--pred`` json list of ``{"episode_id", "pred_label",
  "gt_label"}`` records, one per query or one per episode with a label list
  per query; no ``--gt``;
- ``crosstask``: ``--pred`` pickle of TempCLR's CrossTask predictor
  (``{"Y_pred": {task: {vid: [T, K]}}, "Y_true": ...}``), ``--gt`` optional
  directory of the official ``{task}_{vid}.csv`` annotations;
- ``qa``: ``--pred`` ``[{"question_id", "answer": label index}]``, ``--gt``
  ``[{"question_id", "answer", "answer_type"}]`` (or ``{"qid2data"}``),
  ``--ans2label`` json;
- ``mc``: ``--pred`` as for qa (option index), ``--gt`` ``{qid: index}`` or
  records with an index ``answer``.

Prints one JSON object (NaN, e.g. of an empty length bucket, as null);
notes go to stderr: ``Evaluated: N / M instances`` (``queries`` for the
grounding tasks) and, when the inputs have no saliency or no windows,
which metrics are left out. A bad input ends with status 1 and a message
naming the file, the record and what is wrong.
"""
import argparse
import glob
import json
import math
import os.path as osp
import pickle
import sys

import numpy as np

from vtg_plugins.evaluation import functional as F
from vtg_plugins.evaluation.functional.qvhighlights import official_gt_record
from vtg_plugins.evaluation.submission import (check_ego4d_nlq_submission,
                                               load_json, load_jsonl)
from vtg_plugins.utils.io import atomic_write_text

TASKS = ('qvhighlights', 'moment_retrieval', 'charades', 'tacos', 'ego4d_nlq',
         'youtube', 'tvsum', 'retrieval', 'full_video_retrieval', 'crosstask',
         'qa', 'mc', 'few_shot')
NEEDS_GT = {
    'qvhighlights', 'moment_retrieval', 'ego4d_nlq', 'youtube', 'tvsum', 'qa',
    'mc'
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Evaluate a prediction file with the official protocol.')
    p.add_argument('task', choices=TASKS)
    p.add_argument('--pred', required=True, help='prediction file')
    p.add_argument('--gt', help='ground-truth file (or CrossTask csv dir)')
    p.add_argument(
        '--protocol',
        choices=tuple(
            dict.fromkeys(
                tuple(F.qvhighlights.PROTOCOLS) +
                tuple(F.RETRIEVAL_PROTOCOLS) + F.FULL_VIDEO_PROTOCOLS)),
        help='grounding: official (moment_detr; default for qvhighlights) '
        'or r2tuning (vtg_eval; default for moment_retrieval); retrieval: '
        'hd_vila (default) or tempclr; full_video_retrieval: exact '
        '(default) or official')
    p.add_argument(
        '--on-invalid',
        default='raise',
        choices=('raise', 'miss'),
        help='empty / null / ragged / NaN prediction lists: raise '
        '(default) or score the query as a miss')
    p.add_argument(
        '--allow-duplicates',
        action='store_true',
        help='ego4d_nlq: count duplicated records twice, as the '
        'official evaluator does')
    p.add_argument(
        '--allow-missing',
        action='store_true',
        help='ego4d_nlq / qvhighlights / moment_retrieval: score a '
        'submission that leaves GT queries out, over the submitted ones '
        '(the official Ego4D evaluator divides by the number of records; '
        "moment_detr's match_number=False); by default they are refused")
    p.add_argument('--ans2label', help='qa: answer -> label json')
    p.add_argument(
        '--qa-task',
        choices=sorted(F.ANSWER_TYPES),
        help='qa: report accuracy per answer type')
    p.add_argument('--out', help='also write the JSON result here')
    return p.parse_args(argv)


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def eval_grounding(args, with_saliency):
    protocol = args.protocol or ('official' if with_saliency else 'r2tuning')
    if protocol not in F.qvhighlights.PROTOCOLS:
        raise ValueError(f'--protocol {protocol} is not a grounding protocol')
    sub = load_jsonl(args.pred)
    gt = [official_gt_record(d) for d in load_jsonl(args.gt)]
    return F.eval_qvhighlights(
        sub,
        gt,
        protocol,
        args.on_invalid,
        with_saliency=None if with_saliency else False,
        allow_missing=args.allow_missing,
        log=_note)


def eval_ego4d(args):
    results = check_ego4d_nlq_submission(load_json(args.pred), args.pred)
    return F.ego4d_nlq_metrics(
        results,
        load_json(args.gt),
        on_invalid=args.on_invalid,
        allow_duplicates=args.allow_duplicates,
        allow_missing=args.allow_missing,
        log=_note)


def eval_saliency(args, field, fn):
    pred, gt = load_json(args.pred), load_json(args.gt)
    for path, doc in ((args.pred, pred), (args.gt, gt)):
        if not isinstance(doc, dict):
            raise ValueError(f'{path}: expected a json object keyed by '
                             f'video id, got {type(doc).__name__}')
    vids = list(pred)
    missing = [
        v for v in vids
        if not isinstance(gt.get(v), dict) or field not in gt[v]
    ]
    if missing:
        raise ValueError(f'{args.gt}: no {field!r} for video {missing[0]!r} '
                         f'of {args.pred}')
    return {
        'mAP': fn([pred[v] for v in vids], [gt[v][field] for v in vids], vids)
    }


def eval_retrieval(args):
    with np.load(args.pred) as z:
        if 'sim' in z:
            return dict(
                F.both_directions(z['sim'], args.protocol or 'hd_vila'))
        if not {'text', 'video'} <= set(z):
            raise ValueError(f'{args.pred}: needs arrays "text" and "video" '
                             f'or "sim", has {sorted(z)}')
        return F.text_video_retrieval(z['text'], z['video'], args.protocol
                                      or 'hd_vila')


def eval_full_video_retrieval(args):
    protocol = args.protocol or 'exact'
    if protocol not in F.FULL_VIDEO_PROTOCOLS:
        raise ValueError(f'--protocol {protocol} is not a full-video '
                         f'retrieval protocol {F.FULL_VIDEO_PROTOCOLS}')
    with np.load(args.pred) as z:
        names = set(z)
        if 'video_ids' not in names or not ('sim' in names
                                            or {'text', 'video'} <= names):
            raise ValueError(f'{args.pred}: needs "video_ids" and either '
                             f'"sim" or "text" + "video", has '
                             f'{sorted(names)}')
        try:
            ids = z['video_ids']
        except ValueError:  # object arrays need pickle: refused
            raise ValueError(f'{args.pred}: "video_ids" must be an array '
                             f'of strings or integers, not objects') from None
        if ids.ndim != 1:
            raise ValueError(f'{args.pred}: "video_ids" must be 1-D, got '
                             f'shape {ids.shape}')
        scores = z['sim'] if 'sim' in names else F.similarity(
            z['text'], z['video'])
    return F.full_video_retrieval(scores, ids.tolist(), protocol)


def eval_few_shot(args):
    records = load_json(args.pred)
    if not isinstance(records, list):
        raise ValueError(
            f'{args.pred}: expected a json list of '
            f'{{"episode_id", "pred_label", "gt_label"}} records, '
            f'got {type(records).__name__}')
    episodes = {}
    for i, r in enumerate(records):
        missing = [
            k for k in ('episode_id', 'pred_label', 'gt_label')
            if not isinstance(r, dict) or k not in r
        ]
        if missing:
            raise ValueError(f'{args.pred}: record {i} misses {missing}')
        pred, gt = np.ravel(r['pred_label']), np.ravel(r['gt_label'])
        if pred.shape != gt.shape:
            raise ValueError(f'{args.pred}: record {i} (episode '
                             f'{r["episode_id"]!r}): {pred.size} '
                             f'pred_label(s) for {gt.size} gt_label(s)')
        episodes.setdefault(json.dumps(r['episode_id']), []).append(pred == gt)
    return F.few_shot_accuracy([np.concatenate(c) for c in episodes.values()],
                               [json.loads(e) for e in episodes])


def _read_csv_dir(folder, y_pred):
    y_true = {}
    for task, vids in y_pred.items():
        for vid, y in vids.items():
            path = osp.join(folder, f'{task}_{vid}.csv')
            if not osp.exists(path):
                continue
            rows = []
            with open(path, 'rb') as f:
                for i, raw in enumerate(f, 1):
                    try:
                        line = raw.decode('utf-8')
                    except UnicodeDecodeError:
                        raise ValueError(f'{path}:{i}: not UTF-8 text') \
                            from None
                    if not line.strip():
                        continue
                    parts = line.strip().split(',')
                    if len(parts) != 3:
                        raise ValueError(f'{path}:{i}: expected '
                                         f'"step,start,end"')
                    rows.append(parts)
            y_true.setdefault(task,
                              {})[vid] = F.read_assignment(*np.shape(y), rows)
    return y_true


def eval_crosstask(args):
    with open(args.pred, 'rb') as f:  # trusted, user-given file
        data = pickle.load(f)
    if not isinstance(data, dict) or 'Y_pred' not in data:
        raise ValueError(f'{args.pred}: expected a dict with "Y_pred"')
    if args.gt:
        if not glob.glob(osp.join(args.gt, '*.csv')):
            raise ValueError(f'{args.gt}: no CrossTask annotation csv')
        y_true = _read_csv_dir(args.gt, data['Y_pred'])
    elif 'Y_true' in data:
        y_true = data['Y_true']
    else:
        raise ValueError(f'{args.pred}: no "Y_true"; pass --gt CSV_DIR')
    return F.crosstask_recall(y_true, data['Y_pred'])


def _qa_pairs(args):
    pred = load_json(args.pred)
    gt = load_json(args.gt)
    if isinstance(pred, list):
        pred = {r['question_id']: r['answer'] for r in pred}
    if isinstance(gt, dict) and 'qid2data' in gt:
        gt = gt['qid2data']
    if isinstance(gt, list):
        gt = {r['question_id']: r for r in gt}
    # json object keys are strings: align ids as strings on both sides
    pred = {str(k): v for k, v in pred.items()}
    gt = {str(k): v for k, v in gt.items()}
    return pred, gt


def eval_qa(args):
    if not args.ans2label:
        raise ValueError('qa needs --ans2label')
    pred, gt = _qa_pairs(args)
    label2ans = {v: k for k, v in load_json(args.ans2label).items()}
    return F.open_ended_accuracy(
        pred, gt, label2ans,
        F.ANSWER_TYPES[args.qa_task] if args.qa_task else None)


def eval_mc(args):
    pred, gt = _qa_pairs(args)
    gt = {k: v['answer'] if isinstance(v, dict) else v for k, v in gt.items()}
    acc = F.index_accuracy(pred, gt)
    return {'overall_acc': acc, 'mc_accuracy': float(f'{100 * acc:.2f}')}


def _name_file(e: F.EvaluationError, args) -> F.EvaluationError:
    """``e`` with the file it came from (both files if it involves both)."""
    path = {F.PRED: args.pred, F.GT: args.gt}.get(e.source)
    if path is None and not args.gt:
        path = args.pred
    if path:
        return F.EvaluationError(f'{path}: {e}', e.source)
    return F.EvaluationError(f'{e} (--pred {args.pred}, --gt {args.gt})',
                             e.source)


def evaluate(args) -> dict:
    """Score ``args.pred``; bad input raises ``ValueError`` (an
    :class:`EvaluationError` names its file)."""
    try:
        return _evaluate(args)
    except F.EvaluationError as e:
        raise _name_file(e, args) from None


def _evaluate(args) -> dict:
    task = {
        'charades': 'moment_retrieval',
        'tacos': 'moment_retrieval'
    }.get(args.task, args.task)
    if task in NEEDS_GT and not args.gt:
        raise ValueError(f'{args.task} needs --gt')
    if task in ('qvhighlights', 'moment_retrieval'):
        return eval_grounding(args, with_saliency=task == 'qvhighlights')
    if task == 'youtube':
        return eval_saliency(args, 'match', F.youtube_map)
    if task == 'tvsum':
        return eval_saliency(args, 'anno', F.tvsum_map)
    return {
        'ego4d_nlq': eval_ego4d,
        'retrieval': eval_retrieval,
        'full_video_retrieval': eval_full_video_retrieval,
        'few_shot': eval_few_shot,
        'crosstask': eval_crosstask,
        'qa': eval_qa,
        'mc': eval_mc
    }[task](
        args)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic, float)):
        x = x.item() if isinstance(x, np.generic) else x
        return None if isinstance(x, float) and math.isnan(x) else x
    return x


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = _jsonable(evaluate(args))
    except (ValueError, KeyError, OSError) as e:
        print(f'evaluate.py {args.task}: error: {e}', file=sys.stderr)
        return 1
    text = json.dumps(result)
    if args.out:
        atomic_write_text(args.out, text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
