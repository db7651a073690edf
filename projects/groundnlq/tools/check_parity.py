"""Check vtg_groundnlq against outputs of the official GroundNLQ code.

Usage::

    python projects/groundnlq/tools/check_parity.py FIXTURE [--atol X]

``FIXTURE`` is a ``torch.save``d dict with the structure described in
``shared/refs/groundnlq/README.md``: ``config`` (official ``model`` /
``train_cfg`` / ``test_cfg``), ``state_dict`` (official weights), ``inputs``
(``video_list`` in the official dataset-item format) and ``outputs`` (eval
mode: per-level backbone / pyramid features and masks, points, logits,
offsets, targets, losses, pre-NMS candidates and final results). The
weights go through ``convert_official.convert_state_dict``; the model runs
twice, padded to ``max_seq_len`` as the official code (fields without
prefix) and at the real length (``real_len.*`` fields, compared on the
valid region plus candidates and results). Prints one JSON object
``{field: max_abs_diff, ..., "ok": bool}``; a field fails (exit 1) when an
element is outside ``|ours - ref| <= atol + rtol * |ref|`` (the
``torch.allclose`` rule; ``rtol`` covers float32 rounding of large
grid/second values). Defaults: ``atol=1e-4``, ``rtol=1e-5``.
"""
import argparse
import contextlib
import json
import os
import sys
from typing import List

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_official import convert_state_dict, official_to_kwargs  # noqa

# stdout carries only the JSON report: libraries that log to stdout while
# importing (DeepSpeed's accelerator notice) are sent to stderr
with contextlib.redirect_stdout(sys.stderr):
    from vtg_groundnlq.models import GroundNLQ  # noqa: E402

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-5


class _Report(dict):
    """Field -> max abs difference; remembers fields outside
    ``|ours - ref| <= atol + rtol * |ref|`` (elementwise, as
    ``torch.allclose``)."""

    def __init__(self, atol: float, rtol: float) -> None:
        super().__init__()
        self.atol, self.rtol = atol, rtol
        self.failed: List[str] = []

    def add(self, field: str, pairs) -> None:
        worst, ok = 0.0, True
        for a, b in pairs:
            a = torch.as_tensor(a).double()
            b = torch.as_tensor(b).double()
            if a.shape != b.shape:
                worst, ok = float('inf'), False
                continue
            if a.numel() == 0:
                continue
            err = (a - b).abs()
            worst = max(worst, float(err.max()))
            ok &= bool((err <= self.atol + self.rtol * b.abs()).all())
        self[field] = worst
        if not ok:
            self.failed.append(field)


def fixture_to_batch(video_list: List[dict]):
    """Official dataset items -> ``(inputs, data_samples)``."""
    inputs = dict(
        video=[v['feats'].T.contiguous() for v in video_list],
        query=[v['query_feats'].T.contiguous() for v in video_list])
    samples = [
        dict(
            qid=v['query_id'],
            vid=v['video_id'],
            duration=float(v['duration']),
            fps=float(v['fps']),
            feat_stride=float(v['feat_stride']),
            feat_num_frames=float(v['feat_num_frames']),
            gt_windows=torch.as_tensor(v['timestamps_sec']).reshape(-1, 2))
        for v in video_list
    ]
    return inputs, samples


def build_model(fixture: dict, pad_to_max_len: bool) -> GroundNLQ:
    """Our model with the fixture's converted weights, in eval mode."""
    cfg = fixture['config']
    kwargs = official_to_kwargs(cfg['model'], cfg.get('train_cfg'),
                                cfg.get('test_cfg'))
    model = GroundNLQ(pad_to_max_len=pad_to_max_len, **kwargs)
    model.load_state_dict(convert_state_dict(fixture['state_dict'], model))
    return model.eval()


def _run_losses(model, inputs, samples, norm_before: float, train: bool):
    model.loss_normalizer.fill_(norm_before)
    model.train(train)
    for m in model.modules():
        if hasattr(m, 'drop_prob'):
            m.drop_prob = 0.0
    with torch.no_grad():
        losses = model(inputs, samples, mode='loss')
    model.eval()
    return losses


def _prefix_of(ref, n: int, time_dim: int):
    """The first ``n`` steps of ``ref`` along ``time_dim`` (real-length
    outputs are a prefix of the padded ones)."""
    return ref.narrow(time_dim, 0, min(n, ref.shape[time_dim]))


def check(fixture: dict,
          atol: float = DEFAULT_ATOL,
          rtol: float = DEFAULT_RTOL) -> _Report:
    """Compare our model with every output field of ``fixture``."""
    inp, out = fixture['inputs'], fixture['outputs']
    inputs, samples = fixture_to_batch(inp['video_list'])
    report = _Report(atol, rtol)
    for pad in (True, False):
        model = build_model(fixture, pad_to_max_len=pad)
        pre = '' if pad else 'real_len.'
        with torch.no_grad():
            res = model(inputs, samples, mode='tensor')
        for name, ref_name in (('feats', 'backbone_feats_cropped'),
                               ('fpn_feats', 'fpn_feats_cropped')):
            pairs = []
            for ours, ref in zip(res[name], out[ref_name]):
                n = min(ours.shape[-1], ref.shape[-1])
                # stored refs end at the longest valid length; ours may be
                # longer (zeros) or, at real length, shorter (ref is zero)
                pairs.append((ours[..., :n], ref[..., :n]))
                pairs.append((ours[..., n:].abs().sum(), ref[...,
                                                             n:].abs().sum()))
            report.add(pre + ref_name.replace('_cropped', ''), pairs)
        ref_masks = [m[:, 0] for m in out['fpn_masks']]
        report.add(pre + 'fpn_masks',
                   [(o, _prefix_of(r, o.shape[-1], 1))
                    for o, r in zip(res['masks'], ref_masks)])
        for name in ('points', 'cls_logits', 'offsets'):
            tdim = 0 if name == 'points' else 1
            report.add(pre + name, [(o, _prefix_of(r, o.shape[tdim], tdim))
                                    for o, r in zip(res[name], out[name])])
        cands = model.candidates(res)
        with torch.no_grad():
            preds = [model.postprocess(c, s) for c, s in zip(cands, samples)]
        for field, ours in (('pre_nms', cands), ('results', preds)):
            for key in ('segments', 'scores', 'labels'):
                report.add(f'{pre}{field}.{key}',
                           [(o[key], r[key])
                            for o, r in zip(ours, out[field])])
        if pad:
            gt_cls, gt_reg = model.get_targets(res['points'], samples)
            report.add('gt_cls_labels', zip(gt_cls, out['gt_cls_labels']))
            report.add('gt_offsets', zip(gt_reg, out['gt_offsets']))
        before = float(out.get('loss_normalizer_before', 200.0))
        weight = model.train_cfg['loss_weight']
        for key, train in (('losses', False), ('losses_train_forward', True)):
            if key not in out:
                continue
            losses = _run_losses(model, inputs, samples, before, train)
            ref = out[key]
            report.add(f'{pre}{key}.cls_loss',
                       [(losses['loss_cls'], ref['cls_loss'])])
            if weight > 0:
                report.add(f'{pre}{key}.reg_loss',
                           [(losses['loss_reg'] / weight, ref['reg_loss'])])
            report.add(
                f'{pre}{key}.final_loss',
                [(losses['loss_cls'] + losses['loss_reg'], ref['final_loss'])])
            if 'loss_normalizer_after' in out:
                report.add(f'{pre}loss_normalizer', [(float(
                    model.loss_normalizer), out['loss_normalizer_after'])])
    if 'pos_embd' in inp:
        report.add('pos_embd', [(model.backbone.pos_embd, inp['pos_embd'])])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fixture')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL)
    parser.add_argument('--rtol', type=float, default=DEFAULT_RTOL)
    args = parser.parse_args()
    fixture = torch.load(args.fixture, map_location='cpu', weights_only=False)
    report = check(fixture, args.atol, args.rtol)
    if report.failed:
        print(
            f'outside atol={args.atol} rtol={args.rtol}: {report.failed}',
            file=sys.stderr)
    print(json.dumps({**report, 'ok': not report.failed}))
    sys.exit(1 if report.failed else 0)


if __name__ == '__main__':
    main()
