"""Speed of the evaluation layer against the official loop algorithms.

Generates a QVHighlights-sized submission (1,550 queries, 10 windows, 75
saliency scores) and an Ego4D-NLQ-sized one (4,554 queries, top-5), then
times ``eval_qvhighlights`` (both protocols) and ``ego4d_nlq_metrics``
against the loop references of ``vtg_plugins/testing/eval_oracles.py`` (the
official algorithms written literally, single process), in the same run,
and checks that the numbers are identical.

Usage::

    python tools/benchmark/eval_speed.py [--repeat 5] [--seed 0]
"""
import argparse
import json
import statistics
import sys
import time

from vtg_plugins.evaluation.functional import (ego4d_nlq_metrics,
                                               eval_qvhighlights)
from vtg_plugins.testing import eval_oracles as ref


def _time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times


def _row(name, fn, base, repeat, same):
    out, times = _time(fn, repeat)
    base_out, base_t = _time(base, 1)
    ours = statistics.median(times)
    row = dict(
        task=name,
        ours_first_s=round(times[0], 4),
        ours_median_s=round(ours, 4),
        loop_s=round(base_t[0], 4),
        speedup=round(base_t[0] / ours, 1),
        identical=bool(same(out, base_out)))
    print(json.dumps(row))
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    sub, gt = ref.make_qvh(1550, n_windows=10, seed=args.seed)
    same = (lambda a, b: list(a.items()) == list(b.items()))
    rows = [
        _row('qvhighlights official (1550 q)',
             lambda: eval_qvhighlights(sub, gt, 'official'),
             lambda: ref.eval_submission(sub, gt), args.repeat, same),
        _row('qvhighlights r2tuning (1550 q)',
             lambda: eval_qvhighlights(sub, gt, 'r2tuning'),
             lambda: ref.eval_submission(sub, gt, r2=True), args.repeat, same)
    ]
    results, nlq = ref.make_ego4d(4554, k=5, seed=args.seed)

    def same_nlq(ours, base):
        recall, miou = base
        want = [100 * recall[i, j] for j in range(3) for i in range(2)]
        return list(ours.values())[:6] == want and ours['mIoU'] == 100 * miou

    rows.append(
        _row('ego4d_nlq (4554 q, top-5)',
             lambda: ego4d_nlq_metrics(results, nlq),
             lambda: ref.ego4d(results, nlq), args.repeat, same_nlq))
    return 0 if all(r['identical'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
