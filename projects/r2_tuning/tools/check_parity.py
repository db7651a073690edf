"""Check our R²-Tuning port against a fixture made by the official code.

Usage::

    python projects/r2_tuning/tools/check_parity.py FIXTURE [--atol X] \
        [--rtol Y]

``FIXTURE`` is a ``torch.save``d dict made by running the official code: the
official ``state_dict``, padded official-format ``inputs`` and the official
``outputs`` of (a) the batched training forward (``batch_train_mode``: losses
and every intermediate tensor), (b) the batch-1 test forward of each sample
(``per_sample_test_mode``) and (c) the official post-processing / evaluation
(``postprocessed``: one entry per NMS setting, or the YouTube Highlights
evaluation). The state_dict goes through
:func:`vtg_r2_tuning.converters.convert_state_dict`; our model then runs the
same inputs (predict mode batched) and every output field of the fixture is
compared (:class:`vtg_plugins.testing.parity.ParityReport`): one JSON object
``{"<field>": max_abs_diff, ..., "ok": bool}`` is printed. Exit status 1
when a field is outside ``atol + rtol * |ref|`` (defaults ``1e-4``, ``0``),
when shapes, lengths or keys differ (reported as ``inf``), or when the
fixture holds an output this checker does not know.
"""
import argparse
import re
import sys
from typing import List, Optional, Tuple

import torch

from vtg_plugins.testing.parity import ParityReport

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 0.0
_OUTPUT_GROUPS = ('batch_train_mode', 'per_sample_test_mode', 'postprocessed')


def _postprocess_cfg(name: str) -> Optional[Tuple[Optional[float], dict]]:
    """(unit, nms_cfg) encoded in a fixture key such as
    ``qvh_normal0.7_unit2`` or ``linear_nounit``; None if not a NMS key."""
    m = re.search(r'normal([\d.]+)', name)
    if m:
        nms = dict(type='normal', thres=float(m[1]))
    elif 'linear' in name:
        nms = dict(type='linear')
    else:
        return None
    m = re.search(r'unit([\d.]+)', name)
    return (float(m[1]) if m and 'nounit' not in name else None), nms


def youtube_map(saliency: List[torch.Tensor], match: torch.Tensor) -> float:
    """Official YouTube Highlights mAP (trapezoid AP over the full ranking,
    ``torch.argsort(descending=True)`` order), rounded to 5 digits."""
    aps = []
    for i, sal in enumerate(saliency):
        label = (match[i, :sal.numel()] > 0).float()
        label = label[torch.argsort(sal, descending=True)]
        num_gt = float(label.sum())
        if num_gt == 0:
            aps.append(0.)
            continue
        hits = label.cumsum(0)
        rec = torch.cat((hits.new_zeros(1), hits / num_gt)).double()
        prc = torch.cat((hits.new_ones(1), hits / torch.arange(
            1, label.numel() + 1))).double()
        aps.append(float(((rec[1:] - rec[:-1]) * (prc[:-1] + prc[1:]) /
                          2).sum()))
    return round(sum(aps) / len(aps), 5)


def run_parity(fixture: str,
               atol: float = DEFAULT_ATOL,
               rtol: float = DEFAULT_RTOL) -> ParityReport:
    """Compare our model with every output field of the fixture file."""
    from vtg_r2_tuning.converters import convert_state_dict
    from vtg_r2_tuning.models.postprocess import r2_postprocess
    from vtg_plugins.registry import MODELS
    fx = torch.load(fixture, map_location='cpu', weights_only=True)
    state_dict, cfg = convert_state_dict(fx['state_dict'])
    model = MODELS.build(cfg)
    model.load_state_dict(state_dict)
    model.eval()
    inp, ref = fx['inputs'], fx['outputs']
    b = inp['video'].size(0)
    fps = inp['fps'].tolist() if 'fps' in inp else [None] * b
    samples = []
    for i in range(b):
        n = int(inp['num_clips'][i])
        ds = dict(qid=i, saliency=inp['saliency'][i, :n],
                  pos_clip=int(inp['pos_clip'][i, 0]))
        if 'boundary' in inp:
            ds['gt_windows'] = inp['boundary'][i]
        if fps[i] is not None:
            ds.update(fps=fps[i], duration=n / fps[i])
        samples.append(ds)
    inputs = dict(video=inp['video'], query=inp['query'])
    report = ParityReport(atol, rtol)
    if not report.check_fields('outputs', ref, _OUTPUT_GROUPS):
        return report
    with torch.no_grad():
        out = model(inputs, samples, mode='tensor')
        losses = model(inputs, samples, mode='loss')
        raw = model.predict_raw(inputs, samples)
    train = ref['batch_train_mode']
    report.compare('loss_keys', sorted(losses), sorted(train['losses']))
    for key, val in train['losses'].items():
        report.compare(key, losses.get(key), val)
    for key in train:
        if key != 'losses':
            report.compare(key, out.get(key), train[key])
    test = ref['per_sample_test_mode']
    for key in dict.fromkeys(k for r in test for k in r):
        report.compare(f'test_{key}', [r.get(key) for r in raw],
                       [r.get(key) for r in test])
    for name, records in ref['postprocessed'].items():
        parsed = _postprocess_cfg(name)
        if name == 'youtube_evaluate':
            ours = youtube_map([r['saliency'] for r in raw], inp['match'])
            report.compare('youtube_mAP', dict(mAP=ours), records)
        elif parsed is not None:
            unit, nms = parsed
            windows = [
                r2_postprocess(r['boundary'], samples[i]['duration'], unit,
                               nms).tolist() for i, r in enumerate(raw)
            ]
            report.compare(f'post_{name}', windows,
                           [r['pred_relevant_windows'] for r in records])
            report.compare(f'post_{name}.saliency',
                           [r['saliency'] for r in raw],
                           [r['pred_saliency_scores'] for r in records])
        else:
            report.fail(f'post_{name}', 'a post-processing this checker '
                        'cannot read from its name')
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fixture')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL,
                        help=f'absolute tolerance (default {DEFAULT_ATOL})')
    parser.add_argument('--rtol', type=float, default=DEFAULT_RTOL,
                        help='tolerance relative to |ref| (default '
                        f'{DEFAULT_RTOL})')
    args = parser.parse_args(argv)
    return run_parity(args.fixture, args.atol, args.rtol).emit()


if __name__ == '__main__':
    sys.exit(main())
