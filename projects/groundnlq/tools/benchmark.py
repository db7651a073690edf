"""Benchmark: GroundNLQ train step and eval forward + soft-NMS.

Full-size model (``configs/ego4d_nlq_v2_pretrain_finetune`` architecture,
32.5 M parameters), batch of 2 clips with T = 898 and 1123 features (8- and
10-minute clips at 1.87 fps) and 14 / 11 query tokens. Two variants run on
the same weights and inputs:

- ``padded``: every clip padded to ``max_seq_len`` = 2560, as the official
  code does (the baseline);
- ``real``: clips padded to their own length rounded up to 64.

A train step is one official iteration: ``zero_grad`` -> losses ->
``backward`` -> ``clip_grad_norm_(1.0)`` -> AdamW step (decay on conv/linear
weights only) -> ``ExponentialMovingAverage`` update. Prints the median
seconds of each and the ratio real / padded, and checks that losses and
top-5 predictions agree. Not a test.

Usage: ``python projects/groundnlq/tools/benchmark.py [--steps 5] [--threads 2]``
"""
import argparse
import copy
import statistics
import time

import torch
from mmengine.model import ExponentialMovingAverage

import vtg_groundnlq  # noqa: F401
from vtg_groundnlq.engine import split_decay_params
from vtg_groundnlq.models import GroundNLQ


def make_batch(lengths=(898, 1123), query_lengths=(14, 11), seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        video=[torch.randn(t, 2304, generator=g) for t in lengths],
        query=[torch.randn(n, 512, generator=g) for n in query_lengths])
    samples = [
        dict(
            qid=f'bench_{i}',
            vid=f'clip_{i}',
            duration=t / 1.87,
            gt_windows=torch.tensor([[0.3 * t / 1.87, 0.36 * t / 1.87]]))
        for i, t in enumerate(lengths)
    ]
    return inputs, samples


def make_optimizer(model: torch.nn.Module,
                   lr: float = 2.5e-5,
                   weight_decay: float = 0.05) -> torch.optim.Optimizer:
    """AdamW with weight decay on conv / linear weights only (official)."""
    decay, no_decay = split_decay_params(model)
    return torch.optim.AdamW([
        dict(params=decay, weight_decay=weight_decay),
        dict(params=no_decay, weight_decay=0.0)
    ],
                             lr=lr)


class Variant:
    """One model copy with its optimizer and EMA."""

    def __init__(self, base: GroundNLQ, pad: bool) -> None:
        self.model = copy.deepcopy(base)
        self.model.pad_to_max_len = pad
        self.opt = make_optimizer(self.model)
        self.ema = ExponentialMovingAverage(self.model, momentum=0.001)
        self.train_times, self.eval_times, self.losses = [], [], []
        self.preds = None

    def train_step(self, inputs, samples, step: int) -> None:
        self.model.train()
        torch.manual_seed(step)  # same drop-path draws for both variants
        start = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        out = self.model(inputs, samples, mode='loss')
        loss = out['loss_cls'] + out['loss_reg']
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.ema.update_parameters(self.model)
        self.train_times.append(time.perf_counter() - start)
        self.losses.append(float(loss.detach()))

    @torch.no_grad()
    def eval_step(self, inputs, samples) -> None:
        self.model.eval()
        start = time.perf_counter()
        preds = self.model(inputs, samples, mode='predict')
        self.eval_times.append(time.perf_counter() - start)
        self.preds = [p.pred_relevant_windows for p in preds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = GroundNLQ()
    inputs, samples = make_batch()
    n = args.warmup + args.steps
    print(f'GroundNLQ full config, {sum(p.numel() for p in base.parameters())}'
          f' params, batch T={[len(v) for v in inputs["video"]]}, '
          f'{args.threads} threads; median of {args.steps} after '
          f'{args.warmup} warm-up')
    variants = dict(padded=Variant(base, True), real=Variant(base, False))
    # interleave the two variants so that load changes hit both alike
    for step in range(n):
        for v in variants.values():
            v.eval_step(inputs, samples)
    for step in range(n):
        for v in variants.values():
            v.train_step(inputs, samples, step)
    med = {
        name:
        dict(
            train=statistics.median(v.train_times[args.warmup:]),
            eval=statistics.median(v.eval_times[args.warmup:]))
        for name, v in variants.items()
    }
    for name, m in med.items():
        print(f'{name:>7}: train step {m["train"]:.3f} s, '
              f'eval forward+NMS {m["eval"]:.3f} s')
    pad, real = variants['padded'], variants['real']
    loss_diff = max(abs(a - b) for a, b in zip(pad.losses, real.losses))
    pred_diff = max(
        float((a - b).abs().max()) for a, b in zip(pad.preds, real.preds))
    print(f'ratio real/padded: train '
          f'{med["real"]["train"] / med["padded"]["train"]:.2f}x, eval '
          f'{med["real"]["eval"] / med["padded"]["eval"]:.2f}x')
    print(f'losses per step (padded) {[round(x, 6) for x in pad.losses]}; '
          f'max |loss diff| {loss_diff:.2e}; max |top-5 diff| '
          f'{pred_diff:.2e}')


if __name__ == '__main__':
    main()
