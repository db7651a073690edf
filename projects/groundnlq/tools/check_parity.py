"""Check vtg_groundnlq against outputs of the official GroundNLQ code.

Usage::

    python projects/groundnlq/tools/check_parity.py FIXTURE [--atol X] \
        [--rtol Y]

``FIXTURE`` is a ``torch.save``d dict made by running the official code:
``config`` (official ``model`` / ``train_cfg`` / ``test_cfg``),
``state_dict`` (official weights), ``inputs`` (``video_list`` in the
official dataset-item format, ``pos_embd``) and ``outputs`` (eval mode:
per-level backbone / pyramid features and masks, points, logits, offsets,
targets, losses, pre-NMS candidates and final results). The weights go
through :func:`vtg_groundnlq.converters.convert_state_dict`; the model runs
twice, padded to ``max_seq_len`` as the official code (fields without
prefix) and at the real length (``real_len.*`` fields, compared on the
valid region plus candidates and results). Every output field of the
fixture is compared, level by level and key by key: a reference with other
levels, keys or shapes fails, and so does an output field this checker does
not know. Prints one JSON object ``{field: max_abs_diff, ..., "ok": bool}``
(:class:`vtg_plugins.testing.parity.ParityReport`); a field fails (exit 1)
when an element is outside ``|ours - ref| <= atol + rtol * |ref|`` (``rtol``
covers float32 rounding of large grid/second values). Defaults:
``atol=1e-4``, ``rtol=1e-5``.
"""
import argparse
import contextlib
import sys
from typing import Callable, List, Optional

import torch

from vtg_plugins.testing.parity import ParityReport

# stdout carries only the JSON report: libraries that log to stdout while
# importing (DeepSpeed's accelerator notice) are sent to stderr
with contextlib.redirect_stdout(sys.stderr):
    from vtg_groundnlq.converters import (convert_state_dict,
                                          official_to_kwargs)
    from vtg_groundnlq.models import GroundNLQ

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-5
#: ``outputs`` fields a fixture must have, and those it may have (the
#: train-mode losses, the loss normalizer before / after the loss)
REQUIRED_OUTPUTS = ('backbone_feats_cropped', 'backbone_masks',
                    'fpn_feats_cropped', 'fpn_masks', 'points', 'cls_logits',
                    'offsets', 'gt_cls_labels', 'gt_offsets', 'losses',
                    'pre_nms', 'results')
OPTIONAL_OUTPUTS = ('losses_train_forward', 'loss_normalizer_before',
                    'loss_normalizer_after')
_LOSS_KEYS = ('cls_loss', 'reg_loss', 'final_loss')


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


def _per_level(ours: list, refs: list, fn: Callable) -> tuple:
    """``fn(ours_l, ref_l) -> (ours_l', ref_l')`` on the levels both lists
    have; the levels only one side has stay as they are, so the report
    fails on the lengths (never a zip() that drops them)."""
    n = min(len(ours), len(refs))
    pairs = [fn(o, r) for o, r in zip(ours[:n], refs[:n])]
    return ([p[0] for p in pairs] + list(ours[n:]),
            [p[1] for p in pairs] + list(refs[n:]))


def _cropped(ours, ref):
    """Stored features end at the longest valid length of each level; ours
    run on, over padded steps (the official padded steps hold LayerNorm
    biases, not zeros, so they are not compared). Ours cropped to the
    reference length; a shorter output fails on its shape."""
    return ours[..., :ref.shape[-1]], ref


def _prefix(time_dim: int, squeeze: bool = False):
    """The first ``T_l`` (our length) steps of the reference along
    ``time_dim`` (real-length outputs are a prefix of the padded ones);
    ``squeeze`` drops the official masks' channel dim first."""

    def fn(ours, ref):
        ref = ref[:, 0] if squeeze else ref
        n = min(ours.shape[time_dim], ref.shape[time_dim])
        return ours, ref.narrow(time_dim, 0, n)

    return fn


def _by_key(ours: List[dict], refs: List[dict]) -> dict:
    """Per-video result dicts -> ``{key: [value per video]}`` over the keys
    of both sides (a key one side lacks compares None and fails)."""
    keys = list(dict.fromkeys([k for r in refs for k in r] +
                              [k for o in ours for k in o]))
    return {k: ([o.get(k) for o in ours], [r.get(k) for r in refs])
            for k in keys}


def check(fixture: dict,
          atol: float = DEFAULT_ATOL,
          rtol: float = DEFAULT_RTOL) -> ParityReport:
    """Compare our model with every output field of ``fixture``."""
    inp, out = fixture['inputs'], fixture['outputs']
    inputs, samples = fixture_to_batch(inp['video_list'])
    report = ParityReport(atol, rtol)
    if not report.check_fields('outputs', out, REQUIRED_OUTPUTS,
                               OPTIONAL_OUTPUTS):
        return report
    for pad in (True, False):
        model = build_model(fixture, pad_to_max_len=pad)
        pre = '' if pad else 'real_len.'
        with torch.no_grad():
            res = model(inputs, samples, mode='tensor')
        for name, ref_name in (('feats', 'backbone_feats_cropped'),
                               ('fpn_feats', 'fpn_feats_cropped')):
            report.compare(pre + ref_name.replace('_cropped', ''),
                           *_per_level(res[name], out[ref_name], _cropped))
        # the identity neck passes the backbone masks on: ours are both
        for ref_name in ('backbone_masks', 'fpn_masks'):
            report.compare(
                pre + ref_name,
                *_per_level(res['masks'], out[ref_name],
                            _prefix(1, squeeze=True)))
        for name in ('points', 'cls_logits', 'offsets'):
            report.compare(
                pre + name,
                *_per_level(res[name], out[name],
                            _prefix(0 if name == 'points' else 1)))
        cands = model.candidates(res)
        with torch.no_grad():
            # the official results name their video: the order must match
            preds = [
                dict(model.postprocess(c, s), video_id=s['vid'])
                for c, s in zip(cands, samples)
            ]
        for field, ours in (('pre_nms', cands), ('results', preds)):
            for key, (o, r) in _by_key(ours, out[field]).items():
                report.compare(f'{pre}{field}.{key}', o, r)
        if pad:
            gt_cls, gt_reg = model.get_targets(res['points'], samples)
            report.compare('gt_cls_labels', list(gt_cls),
                           out['gt_cls_labels'])
            report.compare('gt_offsets', list(gt_reg), out['gt_offsets'])
        before = float(out.get('loss_normalizer_before', 200.0))
        weight = model.train_cfg['loss_weight']
        for key, train in (('losses', False), ('losses_train_forward', True)):
            if key not in out:
                continue
            ref = out[key]
            for name in ref:
                if name not in _LOSS_KEYS:
                    report.fail(f'{pre}{key}.{name}', 'a loss this checker '
                                'does not compare')
            losses = _run_losses(model, inputs, samples, before, train)
            ours = dict(
                cls_loss=losses['loss_cls'],
                final_loss=losses['loss_cls'] + losses['loss_reg'])
            if weight > 0:  # the official reg_loss is before the weight
                ours['reg_loss'] = losses['loss_reg'] / weight
            for name in _LOSS_KEYS:
                if name in ours:
                    report.compare(f'{pre}{key}.{name}', ours[name],
                                   ref.get(name))
            if 'loss_normalizer_after' in out:
                report.compare(f'{pre}loss_normalizer',
                               float(model.loss_normalizer),
                               out['loss_normalizer_after'])
    if 'pos_embd' in inp:
        report.compare('pos_embd', model.backbone.pos_embd, inp['pos_embd'])
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fixture')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL)
    parser.add_argument('--rtol', type=float, default=DEFAULT_RTOL)
    args = parser.parse_args(argv)
    fixture = torch.load(args.fixture, map_location='cpu', weights_only=False)
    return check(fixture, args.atol, args.rtol).emit()


if __name__ == '__main__':
    sys.exit(main())
