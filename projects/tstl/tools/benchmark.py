"""TSTL CPU benchmark: one clip through the bidir model, ours against the
plain formulation of attention, in the same run.

Not a test. The model is ``TSTLBackbone`` + ``TSTLFusedHead`` (bidir, 101
classes), full size (ViT-B/16 experts, 16 x 224 x 224, batch 1) or
``--size tiny``. Two variants on the same weights and input:

- ``ours``: every attention through
  ``vtg_tstl.models.attention.multi_head_attention``
  (``scaled_dot_product_attention``);
- ``plain``: the same function patched (``unittest.mock.patch``) to
  ``explicit_attention``, the official per-head
  ``softmax(q k^T * scale) v`` with no SDPA.

Each measurement runs in a fresh subprocess, so peak memory (the child's
``ru_maxrss`` at exit: model, input and the measured passes) is its own.
Children are interleaved ``plain, ours, plain, ours`` over ``--rounds``
(load drift on a shared machine hits both), first the eval forward
(``no_grad``), then the train step (train mode, forward + cross-entropy +
backward; only what the official rule trains needs grad). Every child times
``--steps`` calls after ``--warmup``; medians over all rounds are reported,
peaks as the maximum over rounds. The weights are random (``0.02 * randn``,
LayerNorm weights ``1 + ...``) rather than the official zero-initialised
branches, so that the B-CAST and adapter paths reach the outputs, which are
compared between the variants (max abs difference of logits and features;
train-step losses too). FLOPs are counted with fvcore's
``FlopCountAnalysis``, with a handler for
``aten::scaled_dot_product_attention`` (``Nq * Nk * (d + dv)`` MACs per
head, the convention of fvcore's matmul handler), and checked equal to the
plain variant's count.

Prints a summary and, on the last line, one JSON object; the exit status is
1 when the outputs or the FLOP counts of the variants disagree.

Usage::

    python projects/tstl/tools/benchmark.py [--size full|tiny] \
        [--rounds 3] [--threads 2]
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator, List

#: model and input per size; the backbone's defaults are the full size
SIZES = dict(
    full=dict(backbone=dict(), input=(1, 3, 16, 224, 224)),
    tiny=dict(
        backbone=dict(
            img_size=32,
            patch_size=8,
            embed_dim=64,
            depth=2,
            num_heads=4,
            num_frames=4),
        input=(1, 3, 4, 32, 32)))
NUM_CLASSES = 101
VARIANTS = ('plain', 'ours')
#: the official model, bidir, full size, quiet 2-core machine (the faster
#: of its two warm forwards: 6.0 s and 5.2 s)
OFFICIAL = dict(
    forward_s=5.2, train_s=24.1, forward_peak_gib=2.0, train_peak_gib=5.9)
_PATCHED = 'vtg_tstl.models.attention.multi_head_attention'


def _build(size: str):
    """The bidir model (``[N, C, T, H, W] -> (logits, clip_feat,
    videomae_feat)``) with random weights and the input clip."""
    import torch
    from torch import nn

    from vtg_tstl.models import TSTLBackbone, TSTLFusedHead

    class Bidir(nn.Module):

        def __init__(self) -> None:
            super().__init__()
            self.backbone = TSTLBackbone(**SIZES[size]['backbone'])
            self.head = TSTLFusedHead(
                NUM_CLASSES, in_channels=self.backbone.embed_dim)

        def forward(self, x):
            feats = self.backbone(x)
            return (self.head(feats), ) + tuple(feats)

    torch.manual_seed(0)
    model = Bidir()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            for name, p in m.named_parameters(recurse=False):
                one = isinstance(m, nn.LayerNorm) and name == 'weight'
                p.copy_(float(one) + 0.02 * torch.randn(p.shape, generator=g))
    clip = torch.randn(SIZES[size]['input'], generator=g)
    return model, clip


class _Counted:
    """An attention function that counts its calls (proves the patch)."""

    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


@contextmanager
def _variant(name: str) -> Iterator[_Counted]:
    from unittest import mock

    from vtg_tstl.models import attention
    fn = _Counted(attention.explicit_attention if name ==
                  'plain' else attention.multi_head_attention)
    with mock.patch(_PATCHED, fn):
        yield fn


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_forward(args) -> dict:
    import torch
    model, clip = _build(args.size)
    model.eval()
    times = []
    with _variant(args._child) as fn, torch.no_grad():
        for step in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            out = model(clip)
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)
            if step == 0 and args._out:
                torch.save([o.clone() for o in out], args._out)
            del out
    return dict(times=times, calls=fn.calls, peak_rss_gib=_peak_rss_gib())


def run_train(args) -> dict:
    import torch
    import torch.nn.functional as F
    model, clip = _build(args.size)
    model.train()
    label = torch.zeros(1, dtype=torch.long)
    times, losses = [], []
    with _variant(args._child) as fn:
        for step in range(args.warmup + args.steps):
            torch.manual_seed(step)  # the same drop-path draws per variant
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(clip)[0], label.expand(len(clip)))
            loss.backward()
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)
            losses.append(float(loss))
            del loss
            model.zero_grad(set_to_none=True)
    return dict(
        times=times,
        losses=losses,
        calls=fn.calls,
        peak_rss_gib=_peak_rss_gib())


def _sdpa_flop_jit(inputs: List, outputs: List) -> int:
    """MACs of ``scaled_dot_product_attention(q, k, v)``: ``q k^T`` and the
    weighted sum of ``v``, as fvcore's matmul handler counts each."""
    from fvcore.nn.jit_handles import get_shape
    q, k, v = (get_shape(i) for i in inputs[:3])
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def run_flops(args) -> dict:
    from fvcore.nn import FlopCountAnalysis
    model, clip = _build(args.size)
    model.eval()
    counts = {}
    for name in VARIANTS:
        with _variant(name):
            analysis = FlopCountAnalysis(model, clip).set_op_handle(
                'aten::scaled_dot_product_attention', _sdpa_flop_jit)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings('none')
            counts[name] = dict(
                total=analysis.total(),
                by_operator=dict(analysis.by_operator()))
    return counts


def _child(variant: str, mode: str, args, out: str = '') -> dict:
    """Run one measurement in a fresh interpreter; ``out``: where a
    forward child saves its outputs."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__), '--_child', variant, '--_mode', mode,
        f'--_out={out}', '--size', args.size, f'--threads={args.threads}',
        f'--warmup={args.warmup}', f'--steps={args.steps}'
    ]
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f'{variant} {mode} failed:\n{proc.stderr[-3000:]}')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if mode != 'flops' and result['calls'] == 0:
        raise RuntimeError(f'{variant} {mode}: the attention patch at '
                           f'{_PATCHED} was never called')
    return result


def _summary(rs: List[dict]) -> dict:
    times = [t for r in rs for t in r['times']]
    return dict(
        median_s=statistics.median(times),
        times_s=[round(t, 4) for t in times],
        peak_rss_gib=max(r['peak_rss_gib'] for r in rs))


def _compare(tmp: str) -> dict:
    import torch
    plain, ours = (torch.load(os.path.join(tmp, f'{v}.pt')) for v in VARIANTS)
    names = ('logits', 'clip_feat', 'videomae_feat')
    diffs = {
        n: float((a - b).abs().max())
        for n, a, b in zip(names, plain, ours)
    }
    scale = max(float(a.abs().max()) for a in plain)
    return dict(
        max_abs_diff=diffs,
        max_abs_output=scale,
        agree=max(diffs.values()) <= 1e-4 * max(1.0, scale))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', choices=sorted(SIZES), default='full')
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='interleaved plain/ours subprocess rounds')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--steps', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    for hidden in ('--_child', '--_mode', '--_out'):
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child is not None:
        import torch
        torch.set_num_threads(args.threads)
        run = dict(forward=run_forward, train=run_train, flops=run_flops)
        print(json.dumps(run[args._mode](args)))
        return

    runs = {(v, m): [] for v in VARIANTS for m in ('forward', 'train')}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ('forward', 'train'):
            for i in range(args.rounds):
                for v in VARIANTS:
                    out = os.path.join(tmp, f'{v}.pt') if (mode,
                                                           i) == ('forward',
                                                                  0) else ''
                    runs[v, mode].append(_child(v, mode, args, out))
        outputs = _compare(tmp)
    flops = _child('ours', 'flops', args)
    report = dict(
        size=args.size,
        input=list(SIZES[args.size]['input']),
        threads=args.threads,
        rounds=args.rounds)
    for v in VARIANTS:
        report[v] = {m: _summary(runs[v, m]) for m in ('forward', 'train')}
        report[v]['train']['first_loss'] = runs[v, 'train'][0]['losses'][0]
    ours, plain = report['ours'], report['plain']
    report['ratio_ours_over_plain'] = {
        f'{m}_{q}': ours[m][k] / plain[m][k]
        for m in ('forward', 'train')
        for q, k in (('time', 'median_s'), ('peak_rss', 'peak_rss_gib'))
    }
    outputs['train_loss_abs_diff'] = abs(ours['train']['first_loss'] -
                                         plain['train']['first_loss'])
    report['outputs'] = outputs
    report['flops'] = dict(
        ours=flops['ours']['total'],
        plain=flops['plain']['total'],
        equal=flops['ours']['total'] == flops['plain']['total'],
        sdpa=flops['ours']['by_operator'].get('scaled_dot_product_attention',
                                              0))
    if args.size == 'full' and args.threads == 2:
        report['official'] = OFFICIAL
        report['ratio_ours_over_official'] = dict(
            forward_time=ours['forward']['median_s'] / OFFICIAL['forward_s'],
            train_time=ours['train']['median_s'] / OFFICIAL['train_s'],
            forward_peak_rss=ours['forward']['peak_rss_gib'] /
            OFFICIAL['forward_peak_gib'],
            train_peak_rss=ours['train']['peak_rss_gib'] /
            OFFICIAL['train_peak_gib'])
    for v in VARIANTS:
        print(f"{v:>5}: forward {report[v]['forward']['median_s']:.3f} s "
              f"(peak {report[v]['forward']['peak_rss_gib']:.2f} GiB), "
              f"train step {report[v]['train']['median_s']:.3f} s "
              f"(peak {report[v]['train']['peak_rss_gib']:.2f} GiB)")
    print('ours / plain: ' +
          ', '.join(f'{k} {r:.3f}'
                    for k, r in report['ratio_ours_over_plain'].items()))
    print(f"outputs max abs diff {outputs['max_abs_diff']}; "
          f"GFLOPs ours {report['flops']['ours'] / 1e9:.3f}, plain "
          f"{report['flops']['plain'] / 1e9:.3f}")
    print(json.dumps(report))
    if not (outputs['agree'] and report['flops']['equal']):
        sys.exit(1)


if __name__ == '__main__':
    main()
