"""Speed of the evaluation layer against the official loop algorithms.

Generates a QVHighlights-sized submission (1,550 queries, 10 windows, 75
saliency scores) and an Ego4D-NLQ-sized one (4,554 queries, top-5), then
times ``eval_qvhighlights`` (both protocols) and ``ego4d_nlq_metrics``
against the loop references of ``tests/evaluation/oracles.py`` (the
official algorithms written literally, single process), in the same run:
``--repeat`` interleaved rounds (ours, loop, ours, ...), median times and
the median per-round speed-up; it checks that the numbers are identical.

Then, as whole processes, ``tools/evaluate.py qvhighlights`` against the
official moment_detr CLI (``standalone_eval/eval.py`` of
github.com/jayleicn/moment_detr, which needs numpy and scikit-learn) on the
same 1,550-query files: ``--rounds`` interleaved runs (ours, official, ours,
...) after one untimed warm-up each, median wall time and median peak RSS
(``ru_maxrss`` of the child from ``wait4``: its largest resident set or
that of any of its children), the ratios, and whether the official brief
metrics equal ours. Without ``--official-eval`` only our CLI is measured.

Usage::

    python tools/benchmark/eval_speed.py [--repeat 5] [--seed 0] \
        [--rounds 5] [--official-eval MOMENT_DETR/standalone_eval/eval.py] \
        [--official-python PYTHON_WITH_SKLEARN]
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

from vtg_plugins.evaluation.functional import (ego4d_nlq_metrics,
                                               eval_qvhighlights)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the loop references are test code (tests/evaluation/oracles.py of the
# checkout), not part of the installed package
_ORACLES = importlib.util.spec_from_file_location(
    'evaluation_oracles', osp.join(REPO, 'tests', 'evaluation', 'oracles.py'))
ref = importlib.util.module_from_spec(_ORACLES)
_ORACLES.loader.exec_module(ref)


def _interleaved(fns, rounds):
    """``{name: (output, [s per round])}``: ``rounds`` rounds, each calling
    every function once in turn (ours, loop, ours, loop, ...), so that load
    drift on a shared machine hits both alike."""
    timed = {name: [None, []] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            timed[name][0] = fn()
            timed[name][1].append(time.perf_counter() - t)
    return timed


def _row(name, fn, base, rounds, same):
    """Median times of ours and the loop reference over interleaved rounds
    and the median of the per-round speed-ups."""
    timed = _interleaved(dict(ours=fn, loop=base), rounds)
    (out, times), (base_out, base_t) = timed['ours'], timed['loop']
    row = dict(
        task=name,
        rounds=rounds,
        ours_first_s=round(times[0], 4),
        ours_median_s=round(statistics.median(times), 4),
        loop_median_s=round(statistics.median(base_t), 4),
        speedup=round(
            statistics.median(b / a for a, b in zip(times, base_t)), 1),
        identical=bool(same(out, base_out)))
    print(json.dumps(row))
    return row


# Runs argv[3:] from a fresh small process and writes "wall_s maxrss_kib
# exit_code" to argv[1]. A child's ru_maxrss starts from the resident size
# of the process it was forked from (Linux keeps it across exec), so forking
# the CLIs from this benchmark, which holds hundreds of MiB, would report
# that instead of their own peak.
_LAUNCHER = """
import os, sys, time
out, cwd, *cmd = sys.argv[1:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.chdir(cwd)
    os.execv(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, 'w') as f:
    f.write(f'{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}')
"""


def _run_process(cmd, cwd=None, env=None):
    """Run ``cmd`` to completion. Returns (wall s, peak RSS MiB, stdout):
    ``ru_maxrss`` of the process, i.e. its largest resident set or that of
    any of its children."""
    with tempfile.TemporaryDirectory() as tmp:
        usage = osp.join(tmp, 'usage')
        launch = [sys.executable, '-S', '-c', _LAUNCHER, usage]
        proc = subprocess.run([*launch, cwd or os.getcwd(), *cmd],
                              env=env,
                              capture_output=True,
                              text=True)
        if not osp.exists(usage):
            raise RuntimeError(f'launching {cmd} failed:\n{proc.stderr}')
        with open(usage) as f:
            wall, maxrss_kib, code = f.read().split()
    if int(code) != 0:
        raise RuntimeError(f'{cmd} exited {code}:\n{proc.stderr[-3000:]}')
    return float(wall), int(maxrss_kib) / 1024, proc.stdout


def _write_jsonl(path, records):
    with open(path, 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)
    return path


def _cli_rows(sub, gt, rounds, official_eval, official_python):
    """Whole-process rows: our CLI and, if given, the official one."""
    with tempfile.TemporaryDirectory() as tmp:
        pred = _write_jsonl(osp.join(tmp, 'sub.jsonl'), sub)
        gtf = _write_jsonl(osp.join(tmp, 'gt.jsonl'), gt)
        runs = {
            'ours': dict(cmd=[
                sys.executable,
                osp.join(REPO, 'tools', 'evaluate.py'), 'qvhighlights',
                '--pred', pred, '--gt', gtf
            ])
        }
        if official_eval:
            root = osp.dirname(osp.dirname(osp.abspath(official_eval)))
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(
                [root] + [p for p in [env.get('PYTHONPATH')] if p])
            runs['official'] = dict(
                cmd=[
                    official_python,
                    osp.abspath(official_eval), '--submission_path', pred,
                    '--gt_path', gtf, '--save_path',
                    osp.join(tmp, 'official.json'), '--not_verbose'
                ],
                cwd=root,
                env=env)
        else:
            print('official CLI skipped: pass --official-eval '
                  'MOMENT_DETR/standalone_eval/eval.py', file=sys.stderr)
        walls = {k: [] for k in runs}
        peaks = {k: [] for k in runs}
        ours_out = None
        for i in range(rounds + 1):  # round 0: untimed warm-up
            for name, run in runs.items():
                wall, peak, out = _run_process(**run)
                if name == 'ours':
                    ours_out = out
                if i > 0:
                    walls[name].append(wall)
                    peaks[name].append(peak)
        row = dict(task='evaluate CLI, qvhighlights (1550 q)', rounds=rounds)
        for name in runs:
            row[f'{name}_wall_s'] = round(statistics.median(walls[name]), 3)
            row[f'{name}_peak_mib'] = round(statistics.median(peaks[name]), 1)
        if official_eval:
            row['wall_ratio'] = round(row['ours_wall_s'] /
                                      row['official_wall_s'], 3)
            row['peak_ratio'] = round(row['ours_peak_mib'] /
                                      row['official_peak_mib'], 3)
            with open(osp.join(tmp, 'official.json')) as f:
                brief = json.load(f)['brief']
            ours = json.loads(ours_out.strip().splitlines()[-1])
            row['identical'] = all(ours.get(k) == v for k, v in brief.items())
    print(json.dumps(row))
    return [row] if official_eval else []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--repeat',
        type=int,
        default=5,
        help='interleaved rounds of ours and the loop reference per task')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--rounds',
        type=int,
        default=5,
        help='timed whole-process runs of each CLI (0: none)')
    p.add_argument(
        '--official-eval',
        help="moment_detr's standalone_eval/eval.py (the whole-process "
        'comparison is skipped without it)')
    p.add_argument(
        '--official-python',
        default=sys.executable,
        help='interpreter for the official CLI (needs numpy and '
        'scikit-learn; default: this one)')
    args = p.parse_args(argv)
    sub, gt = ref.random_qvhighlights(1550, n_windows=10, seed=args.seed)
    same = (lambda a, b: list(a.items()) == list(b.items()))
    rows = [
        _row('qvhighlights official (1550 q)',
             lambda: eval_qvhighlights(sub, gt, 'official'),
             lambda: ref.qvhighlights_metrics(sub, gt), args.repeat, same),
        _row('qvhighlights r2tuning (1550 q)',
             lambda: eval_qvhighlights(sub, gt, 'r2tuning'),
             lambda: ref.qvhighlights_metrics(sub, gt, r2=True), args.repeat,
             same)
    ]
    results, nlq = ref.random_ego4d_nlq(4554, k=5, seed=args.seed)

    def same_nlq(ours, base):
        recall, miou = base
        want = [100 * recall[i, j] for j in range(3) for i in range(2)]
        return list(ours.values())[:6] == want and ours['mIoU'] == 100 * miou

    rows.append(
        _row('ego4d_nlq (4554 q, top-5)',
             lambda: ego4d_nlq_metrics(results, nlq),
             lambda: ref.ego4d_nlq_recalls(results, nlq), args.repeat,
             same_nlq))
    if args.rounds > 0:
        rows += _cli_rows(sub, gt, args.rounds, args.official_eval,
                          args.official_python)
    return 0 if all(r['identical'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
