"""Training throughput of the scale-out engines at 1 and 2 processes.

For each method (the tiny configs of ``tests/scale_out/cases.py``) and each
engine (DDP, i.e. no strategy, or a ``configs/_base_/strategies`` overlay;
the DeepSpeed fp16 overlays run in fp32), ``--rounds`` interleaved pairs of
``tools/dist_train.sh`` runs (1 process, 2 processes, 1, 2, ...), each
process limited to one thread (``OMP_NUM_THREADS=1``), without validation
or checkpoints, logging every iteration's time.

Throughput of a run: the samples of its epochs after ``--warmup-epochs``
(processes x ``train_dataloader.batch_size`` per iteration) over the sum
of those iterations' logged times (MMEngine's ``time:``, one iteration
each). Whole epochs are timed, so per-epoch work (TempCLR's regrouping
before each epoch) weighs the same at 1 and 2 processes, which run the
same epochs over the same samples. Reported: the median over the rounds
at 1 and 2 processes, the median of the rounds' ratios (2 / 1 process;
the scaling efficiency is half of it) and each engine's 2-process median
over DDP's for the method. A "sample" is one dataset item (TempCLR's item
is a group of videos).

Usage::

    python tools/benchmark/scale_out.py [--methods r2_tuning ...] \
        [--engines ddp deepspeed_zero2 ...] [--rounds 3] [--epochs 12] \
        [--warmup-epochs 2] [--work-dir DIR] [--out results.json]

A run the tools refuse (e.g. GroundNLQ's EMAHook on FSDP / ZeRO-3) is
reported as refused; a failing run is reported with the tail of its log,
the others go on and the exit status is 1.
"""
import argparse
import importlib.util
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ENGINES = ('ddp', 'deepspeed_zero2', 'deepspeed_zero3', 'fsdp')
PROCS = (1, 2)
TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\[\s*\d+/(\d+)\]'
                        r'.*?\btime:\s*([0-9.]+)')
REFUSAL = re.compile(r'^(?:\[rank\d+\]:\s*)?ValueError:\s*(.*)$', re.M)


def load_cases():
    """The case table module, ``tests/scale_out/cases.py``, by path."""
    path = REPO / 'tests' / 'scale_out' / 'cases.py'
    spec = importlib.util.spec_from_file_location('scale_out_cases', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_iterations(log):
    """``[(epoch, iterations in the epoch, seconds)]`` of the training
    lines of an MMEngine log, in order."""
    return [(int(epoch), int(total), float(seconds))
            for epoch, total, seconds in TRAIN_LINE.findall(log)]


def run_throughput(iterations, warmup_epochs, global_batch):
    """Samples/s over the epochs after ``warmup_epochs``; raises
    ``ValueError`` unless every such epoch logged all its iterations."""
    timed = [it for it in iterations if it[0] > warmup_epochs]
    epochs = {epoch: total for epoch, total, _ in timed}
    counts = [sum(it[0] == epoch for it in timed) for epoch in epochs]
    if not timed or counts != list(epochs.values()):
        raise ValueError(f'incomplete timed epochs after {warmup_epochs} '
                         f'warm-up epochs: {len(timed)} iterations logged')
    seconds = [it[2] for it in timed]
    return dict(
        samples_per_s=global_batch * len(timed) / sum(seconds),
        timed_iters=len(timed),
        samples_per_epoch=global_batch * timed[0][1],
        s_per_iter_median=statistics.median(seconds))


def refusal(log):
    """The tools' refusal of the config (a ``ValueError`` before the first
    iteration), or None."""
    if parse_iterations(log):
        return None
    found = REFUSAL.findall(log)
    return found[-1] if found else None


def summarize(runs):
    """Medians over the rounds of a (method, engine) pair's ok runs:
    samples/s at each process count, and the rounds' 2-to-1-process
    ratios; a note if the runs' epochs held different sample counts
    (partial or padded batches, so not the same work)."""
    rates = {
        p: [r['samples_per_s'] for r in runs if r['procs'] == p]
        for p in PROCS
    }
    speedup = statistics.median(b / a for a, b in zip(rates[1], rates[2]))
    summary = dict(
        samples_per_s={p: statistics.median(rates[p])
                       for p in PROCS},
        speedup=speedup,
        efficiency=speedup / 2)
    if len({r['samples_per_epoch'] for r in runs}) > 1:
        summary['note'] = 'the runs\' epochs hold different sample counts'
    return summary


def add_vs_ddp(rows):
    """Each ok row's 2-process throughput over DDP's for its method."""
    ddp = {
        row['method']: row['samples_per_s'][2]
        for row in rows if row['engine'] == 'ddp' and row['status'] == 'ok'
    }
    for row in rows:
        if row['status'] == 'ok' and row['method'] in ddp:
            row['vs_ddp'] = row['samples_per_s'][2] / ddp[row['method']]


def table(rows):
    """The results as a markdown table."""
    lines = [
        '| method | engine | 1 proc samples/s | 2 procs samples/s | '
        'speedup (2/1) | efficiency | 2 procs vs DDP |',
        '|---|---|---:|---:|---:|---:|---:|'
    ]
    for row in rows:
        if row['status'] != 'ok':
            cells = [row['status']] * 5
        else:
            vs_ddp = row.get('vs_ddp')
            cells = [
                f"{row['samples_per_s'][1]:.2f}",
                f"{row['samples_per_s'][2]:.2f}", f"{row['speedup']:.2f}x",
                f"{row['efficiency']:.0%}",
                '-' if vs_ddp is None else f'{vs_ddp:.2f}x'
            ]
        lines.append('| ' +
                     ' | '.join([row['method'], row['engine'], *cells]) + ' |')
    return '\n'.join(lines)


def engine_args(case, engine, case_engines):
    """``(train.py arguments, --cfg-options)`` of an engine for a case:
    its overlay and the case's options for it (``case_engines`` names the
    overlays by the case table's short names); DeepSpeed fp16 as fp32."""
    if engine == 'ddp':
        return [], list(case.engine_options.get('ddp', []))
    short = dict(map(reversed, case_engines.items()))
    options = list(
        case.engine_options.get(short.get(engine.removesuffix('_bf16')), []))
    if engine.startswith('deepspeed') and not engine.endswith('_bf16'):
        options.append('strategy.fp16.enabled=False')
    return ['--strategy', engine], options


def timing_options(epochs):
    """``--cfg-options`` of a timed run: every iteration's own time logged
    to 6 digits, no checkpoint, no data-loading worker processes (each
    process gets one core)."""
    return [
        f'train_cfg.max_epochs={epochs}', 'default_hooks.logger.interval=1',
        'log_processor.window_size=1', 'log_processor.num_digits=6',
        f'default_hooks.checkpoint.interval={epochs + 1}',
        'default_hooks.checkpoint.save_last=False',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ]


def run_env(port):
    """The environment of a run: one thread a process, DeepSpeed's CPU
    accelerator, torchrun's master port, this Python."""
    return dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        DS_ACCELERATOR='cpu',
        PORT=str(port),
        PYTHON=sys.executable,
        PATH=str(Path(sys.executable).parent) + os.pathsep +
        os.environ.get('PATH', ''))


def free_port(used):
    """A free TCP port not handed out before in this benchmark."""
    while True:
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        if port not in used:
            used.add(port)
            return port


def launch(cmd, cwd, env, timeout):
    """Run ``cmd`` in its own process group, killed whole on a timeout or
    an interrupt; ``(exit status, output)``."""
    proc = subprocess.Popen([str(c) for c in cmd],
                            cwd=cwd,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0] + f'\n[scale_out] killed after {timeout} s'
    except BaseException:  # e.g. Ctrl-C, which its session does not get
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out


def per_rank_batch(work_dir, config):
    """``train_dataloader.batch_size`` of the config a run dumped."""
    from mmengine.config import Config
    dumped = Config.fromfile(
        work_dir / Path(config).name, import_custom_modules=False)
    return int(dumped.train_dataloader.batch_size)


def outcome(code, log, work_dir, config, procs, warmup_epochs):
    """A finished run's record: its throughput, or ``status`` refused or
    failed, the reason and the log's tail."""
    try:
        if code == 0:
            batch = procs * per_rank_batch(work_dir, config)
            return dict(
                status='ok',
                global_batch=batch,
                **run_throughput(parse_iterations(log), warmup_epochs, batch))
        reason = f'exit status {code}'
    except (ValueError, OSError) as error:
        reason = f'{type(error).__name__}: {error}'
    refused = refusal(log)
    return dict(
        status='refused' if refused else 'failed',
        reason=refused or reason,
        log_tail='\n'.join(log.splitlines()[-40:]))


def time_run(case, engine, procs, folder, work_dir, args, ports, cases):
    """One timed run in ``folder`` (where the data lies), its output kept
    as ``work_dir/console.log``; its record."""
    strategy, options = engine_args(case, engine, cases.ENGINES)
    cmd = [
        'bash', REPO / 'tools' / 'dist_train.sh', REPO / case.config, procs,
        '--work-dir', work_dir, '--no-validate', *strategy, '--cfg-options',
        *case.options, *options, *timing_options(args.epochs)
    ]
    start = time.perf_counter()
    code, log = launch(cmd, folder, run_env(free_port(ports)), args.timeout)
    wall_s = round(time.perf_counter() - start, 1)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / 'console.log').write_text(log)
    return dict(
        procs=procs,
        wall_s=wall_s,
        work_dir=str(work_dir),
        **outcome(code, log, work_dir, case.config, procs, args.warmup_epochs))


def bench_pair(method, engine, args, ports, cases):
    """``--rounds`` interleaved 1- and 2-process runs of one (method,
    engine); stops at the first run not ok."""
    case, folder = cases.CASES[method], args.work_dir / method
    row = dict(method=method, engine=engine, status='ok', runs=[])
    for round_ in range(args.rounds):
        for procs in PROCS:
            work_dir = folder / 'runs' / engine / f'r{round_}_p{procs}'
            record = time_run(case, engine, procs, folder, work_dir, args,
                              ports, cases)
            row['runs'].append(dict(record, round=round_))
            print(
                f'[scale_out] {method} {engine} round {round_}, '
                f'procs={procs}: {_brief(record)}',
                flush=True)
            if record['status'] != 'ok':
                return dict(
                    row, status=record['status'], reason=record['reason'])
    return dict(row, **summarize(row['runs']))


def _brief(record):
    """A run's record in a few words."""
    if record['status'] == 'ok':
        return (f"{record['samples_per_s']:.2f} samples/s over "
                f"{record['timed_iters']} iterations, {record['wall_s']} s")
    return f"{record['status']}: {record['reason']}"


def make_data(methods, work_dir, cases):
    """Each method's data under ``work_dir/<method>`` once (a marker file
    tells a finished one)."""
    for method in methods:
        folder = work_dir / method
        marker = folder / 'data' / '.written'
        if not marker.exists():
            cases.CASES[method].make_data(folder)
            marker.touch()


def loadavg():
    """The 1, 5 and 15-minute load averages, to 2 decimals."""
    return [round(load, 2) for load in os.getloadavg()]


def parse_args(argv, cases):
    """The command line; ``cases`` is the case table module."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--methods',
        nargs='+',
        choices=list(cases.CASES),
        default=list(cases.CASES))
    add('--engines',
        nargs='+',
        default=list(DEFAULT_ENGINES),
        help="'ddp' or overlay names of configs/_base_/strategies")
    add('--rounds', type=int, default=3)
    add('--epochs', type=int, default=12, help='of a run, with the warm-up')
    add('--warmup-epochs', type=int, default=2, help='not timed')
    add('--timeout', type=int, default=1200, help='seconds one run may take')
    add('--work-dir', type=Path, help='data and runs (default: a temp dir)')
    add('--out', type=Path, help='write the results (json) here')
    args = parser.parse_args(argv)
    if not 0 < args.warmup_epochs < args.epochs or args.rounds < 1:
        parser.error('need rounds >= 1 and 0 < warmup-epochs < epochs')
    unknown = [
        e for e in args.engines
        if e != 'ddp' and not (REPO / 'configs/_base_/strategies' /
                               f'{e}.py').exists()
    ]
    if unknown:
        parser.error(f'unknown engines: {unknown}')
    return args


def report(rows, info, work_dir):
    """Print the table, the machine's cores and load and what was not
    ok (the failures with their logs' tails)."""
    print(table(rows))
    print(f"[scale_out] {info['cpu_count']} CPU cores "
          f"({info['usable_cores']} usable), load average "
          f"{info['loadavg_start']} at the start, {info['loadavg_end']} at "
          f"the end; runs under {work_dir}")
    for row in rows:
        if 'note' in row or row['status'] != 'ok':
            print(f"\n[scale_out] {row['method']} {row['engine']} "
                  f"{row['status']}: {row.get('note') or row['reason']}")
        if row['status'] == 'failed':
            print(row['runs'][-1]['log_tail'])


def main(argv=None):
    cases = load_cases()
    args = parse_args(argv, cases)
    load_start = loadavg()
    print(
        f'[scale_out] {os.cpu_count()} CPU cores, load average '
        f'{load_start}',
        flush=True)
    args.work_dir = (args.work_dir
                     or Path(tempfile.mkdtemp(prefix='scale_out_'))).resolve()
    make_data(args.methods, args.work_dir, cases)
    ports = set()
    rows = [
        bench_pair(method, engine, args, ports, cases)
        for method in args.methods for engine in args.engines
    ]
    add_vs_ddp(rows)
    info = dict(
        cpu_count=os.cpu_count(),
        usable_cores=len(os.sched_getaffinity(0)),
        loadavg_start=load_start,
        loadavg_end=loadavg())
    report(rows, info, args.work_dir)
    if args.out:
        args.out.write_text(
            json.dumps(
                dict(machine=info, settings=vars(args), results=rows),
                indent=1,
                default=str))
    return int(any(row['status'] == 'failed' for row in rows))


if __name__ == '__main__':
    sys.exit(main())
