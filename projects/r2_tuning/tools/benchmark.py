"""R²-Tuning CPU benchmark: training step and batched inference.

Not a test. Each variant runs in its own subprocess (so peak RSS is its
own) within one invocation, and ratios are printed against the baseline
measured in the same run:

- ``baseline``: the plain formulation of the official model
  (``chunk_tokens=0``: the whole ``[B, T, P, Cv + 2]`` video-map input
  materialised, ``F.dropout``);
- ``ours``: the default model (streamed first video-map half with
  recomputation in backward, bit-mask dropout).

Setup as the measurement of the official code quoted in the project README:
batch 32, 75 clips, query 32 tokens (20-32 valid), k=4, ViT-B/32 dims, fp16
inputs, ``model.train()``, loss mode, backward, grad clip 35, AdamW step,
2 threads; median wall and process-CPU time per step after warm-up over
``--rounds`` alternating baseline/ours subprocesses (so that load drift on a
shared machine hits both), peak RSS (``ru_maxrss``).
The losses of both variants are compared on the same inputs in eval mode
(dropout off), where they must be identical up to float rounding.

Inference: batched ``predict`` over ``--infer-samples`` videos of 40-75
clips vs the official batch-1 path (one ``predict`` call per sample), with
the outputs checked equal; ``--rounds`` interleaved rounds, median times.

Usage::

    python projects/r2_tuning/tools/benchmark.py [--batch 32] [--steps 3]
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _inputs(batch: int, clips: int, tokens: int, seed: int = 0):
    import torch
    g = torch.Generator().manual_seed(seed)
    # built clip by clip in fp16 so that the generator's fp32 temporaries
    # do not dominate the peak RSS of the step being measured
    video = torch.empty(batch, clips, 4 * 50 * 768, dtype=torch.half)
    for i in range(batch):
        video[i] = torch.randn(clips, 4 * 50 * 768, generator=g) * 0.5
    query = (torch.randn(batch, tokens, 4 * 512, generator=g) * 0.5).half()
    lengths = torch.randint(20, tokens + 1, (batch, ), generator=g)
    for i, n in enumerate(lengths.tolist()):
        query[i, n:] = float('inf')
    samples = []
    for i in range(batch):
        start = float(torch.randint(0, clips - 10, (1, ), generator=g)) * 2
        sal = torch.zeros(clips)
        sal[int(start / 2):int(start / 2) + 5] = 0.5
        samples.append(
            dict(gt_windows=[[start, start + 10.]], fps=0.5, saliency=sal,
                 pos_clip=int(start / 2) + 2, duration=clips * 2.))
    return dict(video=video, query=query), samples


def _build(chunk_tokens: int):
    import torch
    import vtg_r2_tuning  # noqa: F401
    from vtg_plugins.registry import MODELS
    torch.manual_seed(0)
    kw = {} if chunk_tokens < 0 else dict(chunk_tokens=chunk_tokens)
    return MODELS.build(dict(type='R2Tuning', **kw))


def run_train(chunk_tokens: int, args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    model = _build(chunk_tokens)
    inputs, samples = _inputs(args.batch, args.clips, args.tokens)
    model.eval()
    with torch.no_grad():
        eval_losses = {
            k: float(v)
            for k, v in model(inputs, samples, mode='loss').items()
        }
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
    times, cpu = [], []
    for step in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        losses = model(inputs, samples, mode='loss')
        opt.zero_grad()
        sum(losses.values()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        opt.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return dict(times=times, cpu_times=cpu,
                peak_rss_gb=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1e6,
                eval_losses=eval_losses)


def run_infer(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    model = _build(-1).eval()
    g = torch.Generator().manual_seed(1)
    n = args.infer_samples
    lengths = torch.randint(40, args.clips + 1, (n, ), generator=g).tolist()
    videos = [(torch.randn(t, 4 * 50 * 768, generator=g) * 0.5).half()
              for t in lengths]
    queries = [(torch.randn(int(q), 4 * 512, generator=g) * 0.5).half()
               for q in torch.randint(8, 33, (n, ), generator=g)]
    samples = [dict(qid=i, fps=0.5, duration=t * 2.)
               for i, t in enumerate(lengths)]

    def batch1():
        return [
            model.predict(dict(video=videos[i:i + 1],
                               query=queries[i:i + 1]), samples[i:i + 1])[0]
            for i in range(n)
        ]

    def batched():
        out = []
        for lo in range(0, n, args.infer_batch):
            hi = min(lo + args.infer_batch, n)
            out += model.predict(
                dict(video=videos[lo:hi], query=queries[lo:hi]),
                samples[lo:hi])
        return out

    times = dict(batch1=[], batched=[])
    with torch.no_grad():
        model.predict(dict(video=videos[:2], query=queries[:2]), samples[:2])
        for _ in range(args.rounds):  # interleaved: load drift hits both
            for name, fn in (('batch1', batch1), ('batched', batched)):
                t0 = time.perf_counter()
                outputs = fn()
                times[name].append(time.perf_counter() - t0)
                if name == 'batch1':
                    single = outputs
                else:
                    batched_out = outputs
    t_single = statistics.median(times['batch1'])
    t_batched = statistics.median(times['batched'])
    diff = 0.
    for a, b in zip(single, batched_out):
        wa = torch.tensor(a['pred_relevant_windows'])
        wb = torch.tensor(b['pred_relevant_windows'])
        sa = torch.tensor(a['pred_saliency_scores'])
        sb = torch.tensor(b['pred_saliency_scores'])
        diff = max(diff, float((wa - wb).abs().max()),
                   float((sa - sb).abs().max()))
    return dict(batch1_samples_per_s=n / t_single,
                batched_samples_per_s=n / t_batched,
                max_abs_diff=diff)


def _child(variant: str, args) -> dict:
    cmd = [sys.executable, __file__, '--_child', variant] + [
        f'--{k.replace("_", "-")}={v}' for k, v in vars(args).items()
        if k != '_child' and v is not None
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f'{variant} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--clips', type=int, default=75)
    parser.add_argument('--tokens', type=int, default=32)
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=2,
                        help='alternating baseline/ours subprocess rounds')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--infer-samples', type=int, default=64)
    parser.add_argument('--infer-batch', type=int, default=32)
    parser.add_argument('--skip-train', type=int, default=0)
    parser.add_argument('--_child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child == 'infer':
        print(json.dumps(run_infer(args)))
        return
    if args._child is not None:
        print(json.dumps(run_train(0 if args._child == 'baseline' else -1,
                                   args)))
        return
    report = {}
    if not args.skip_train:
        runs = {'baseline': [], 'ours': []}
        for _ in range(args.rounds):  # alternate: load drifts hit both
            for name in runs:
                runs[name].append(_child(name, args))
        for name, rs in runs.items():
            report[name] = dict(
                step_s=statistics.median(t for r in rs for t in r['times']),
                cpu_s=statistics.median(t for r in rs
                                        for t in r['cpu_times']),
                times=[round(t, 2) for r in rs for t in r['times']],
                peak_rss_gb=max(r['peak_rss_gb'] for r in rs),
                eval_losses=rs[0]['eval_losses'])
        base, ours = report['baseline'], report['ours']
        report.update(
            time_ratio=ours['step_s'] / base['step_s'],
            cpu_time_ratio=ours['cpu_s'] / base['cpu_s'],
            memory_ratio=ours['peak_rss_gb'] / base['peak_rss_gb'],
            eval_loss_max_abs_diff=max(
                abs(base['eval_losses'][k] - ours['eval_losses'][k])
                for k in base['eval_losses']))
    infer = _child('infer', args)
    infer['speedup'] = (infer['batched_samples_per_s'] /
                        infer['batch1_samples_per_s'])
    report['inference'] = infer
    print(json.dumps(report, indent=1))


if __name__ == '__main__':
    main()
