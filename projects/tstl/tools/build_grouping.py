"""Build TSTL's ``class_grouping.json`` (the class -> expert mapping of the
selector and the experts).

    python projects/tstl/tools/build_grouping.py --out class_grouping.json \
        (--confusion CM.npy | --predictions RESULTS.pkl | --groups FILE) \
        [--num-groups G] [--max-size S] [--num-classes C]

Sources:

- ``--confusion CM.npy``: a ``[C, C]`` confusion matrix (rows: true class,
  columns: predicted class; counts or rates);
- ``--predictions RESULTS.pkl``: the predictions of a one-model recognizer
  on a validation set, as ``tools/test.py CONFIG CKPT --dump RESULTS.pkl``
  writes them (MMEngine ``DumpResults``: one dict per video with
  ``pred_score`` ``[C]`` and ``gt_label``); the confusion matrix counts
  ``(gt_label, argmax pred_score)``;
- ``--groups FILE``: a given grouping, ``.json`` (a list of class-id lists)
  or ``.csv`` (one group per line, class ids separated by commas).

From a confusion matrix the ``--num-groups`` groups come from
:func:`vtg_tstl.grouping.group_by_confusion`: average-linkage agglomeration
over the symmetric, row-normalised confusion under a size cap
(``--max-size``, default ``ceil(C / G)``, grown only when no merge fits), so
classes mistaken for each other share an expert and the groups stay
balanced. The official repository ships its SSv2 grouping (15 groups of 11
or 12 classes) but not the code that made it.

The output has the five keys of the official file (``class_to_head``,
``head_to_classes``, ``head_to_local``, ``num_heads``, ``num_classes``) and
is written atomically; every class must be in exactly one group.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from vtg_tstl.grouping import ClassGrouping, group_by_confusion


def read_groups(path: Path) -> List[List[int]]:
    """``.json`` list of lists, or ``.csv`` one comma-separated group per
    line (blank lines skipped); errors name the file and the group/line."""
    if path.suffix == '.json':
        try:
            doc = json.loads(path.read_text(encoding='utf-8'))
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: line {e.lineno}: invalid JSON '
                             f'({e.msg})') from None
        if not isinstance(doc, list) or not all(
                isinstance(g, list) for g in doc):
            raise ValueError(f'{path}: expected a list of class-id lists')
        items = [(f'group {i}', g) for i, g in enumerate(doc)]
    elif path.suffix == '.csv':
        items = [(f'line {n}', [v.strip() for v in text.split(',')])
                 for n, text in enumerate(
                     path.read_text(encoding='utf-8').splitlines(), 1)
                 if text.strip()]
    else:
        raise ValueError(f'{path}: --groups takes a .json or .csv file')
    groups = []
    for where, values in items:
        group = []
        for v in values:
            if isinstance(v,
                          bool) or not (isinstance(v, int) or
                                        (isinstance(v, str) and v.isdigit())):
                raise ValueError(f'{path}: {where}: {v!r} is not a '
                                 'non-negative integer class id')
            group.append(int(v))
        groups.append(group)
    return groups


def confusion_from_predictions(path: Path) -> np.ndarray:
    """``[C, C]`` counts from a ``DumpResults`` pickle."""
    import mmengine
    records = mmengine.load(str(path))
    if not isinstance(records, list) or not records:
        raise ValueError(f'{path}: expected a non-empty list of predictions '
                         '(tools/test.py --dump FILE.pkl)')
    pairs = []
    for i, rec in enumerate(records):
        try:
            score = np.asarray(rec['pred_score'], dtype=np.float64)
            label = int(np.asarray(rec['gt_label']).reshape(-1)[0])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ValueError(f'{path}: record {i}: needs pred_score [C] and '
                             f'gt_label ({e!r})') from None
        if score.ndim != 1 or not 0 <= label < score.size:
            raise ValueError(f'{path}: record {i}: gt_label {label} with '
                             f'pred_score of shape {list(score.shape)}')
        pairs.append((label, int(score.argmax()), score.size))
    sizes = {p[2] for p in pairs}
    if len(sizes) != 1:
        raise ValueError(f'{path}: pred_score sizes differ: {sorted(sizes)}')
    conf = np.zeros((sizes.pop(), ) * 2)
    for label, pred, _ in pairs:
        conf[label, pred] += 1
    return conf


def build(args: argparse.Namespace) -> ClassGrouping:
    if args.groups is not None:
        grouping = ClassGrouping(
            tuple(tuple(g) for g in read_groups(args.groups)),
            source=str(args.groups))
    else:
        if args.num_groups is None:
            raise ValueError('--num-groups is needed with --confusion / '
                             '--predictions')
        if args.confusion is not None:
            source = str(args.confusion)
            conf = np.load(args.confusion, allow_pickle=False)
        else:
            source = str(args.predictions)
            conf = confusion_from_predictions(args.predictions)
        grouping = group_by_confusion(
            conf, args.num_groups, args.max_size, source=source)
    if args.num_classes is not None and \
            grouping.num_classes != args.num_classes:
        raise ValueError(f'{grouping.source}: {grouping.num_classes} '
                         f'classes, --num-classes is {args.num_classes}')
    if args.groups is not None and args.num_groups is not None and \
            grouping.num_groups != args.num_groups:
        raise ValueError(f'{grouping.source}: {grouping.num_groups} groups, '
                         f'--num-groups is {args.num_groups}')
    return grouping


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        '--confusion', type=Path, help='[C, C] confusion matrix (.npy)')
    source.add_argument(
        '--predictions', type=Path, help='tools/test.py --dump pickle')
    source.add_argument(
        '--groups',
        type=Path,
        help='given groups (.json list of lists or .csv)')
    parser.add_argument(
        '--out',
        type=Path,
        required=True,
        help='the class_grouping.json to write')
    parser.add_argument(
        '--num-groups', type=int, help='G (required with a confusion source)')
    parser.add_argument(
        '--max-size',
        type=int,
        help='initial group size cap (default ceil(C / G))')
    parser.add_argument(
        '--num-classes', type=int, help='check that the classes are 0..C-1')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        grouping = build(args)
    except (OSError, ValueError) as e:
        print(f'build_grouping: {e}', file=sys.stderr)
        return 1
    grouping.dump(args.out)
    sizes = [len(g) for g in grouping.groups]
    print(f'{args.out}: {grouping.num_classes} classes in '
          f'{grouping.num_groups} groups (sizes {min(sizes)}-{max(sizes)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
