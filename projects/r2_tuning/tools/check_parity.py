"""Check our R²-Tuning port against a fixture made by the official code.

Usage::

    python projects/r2_tuning/tools/check_parity.py FIXTURE [--atol X]

``FIXTURE`` has the structure of ``shared/refs/r2_tuning/parity_qvh.pt`` (see
the README there): the official state_dict, padded official-format inputs and
the official outputs of (a) the batched training forward, (b) the batch-1
test forward of each sample and (c) the official post-processing /
evaluation. The state_dict goes through ``convert_official``; our model then
runs the same inputs (predict mode batched) and one JSON object
``{"<field>": max_abs_diff, ..., "ok": bool}`` is printed. Exit status 1 when
a field exceeds ``--atol`` or a shape/length differs (reported as ``inf``).
"""
import argparse
import importlib.util
import json
import math
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

import torch

DEFAULT_ATOL = 1e-4


def _converter():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'convert_official.py')
    spec = importlib.util.spec_from_file_location('_r2_convert', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _diff(ours, ref) -> float:
    """Max abs difference of tensors / nested lists; inf on shape change."""
    if ours is None or ref is None:
        return 0. if ours is None and ref is None else math.inf
    if isinstance(ref, (list, tuple)):
        if not isinstance(ours, (list, tuple)) or len(ours) != len(ref):
            return math.inf
        return max([_diff(o, r) for o, r in zip(ours, ref)], default=0.)
    ours = torch.as_tensor(ours, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    if ours.shape != ref.shape:
        return math.inf
    if ours.numel() == 0:
        return 0.
    same = (ours == ref) | (ours.isnan() & ref.isnan())
    return float((ours - ref).abs().masked_fill(same, 0).max())


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


def run_parity(fixture: str, atol: float = DEFAULT_ATOL) -> Dict:
    """Compare our model with the fixture; returns the JSON dict."""
    import vtg_r2_tuning  # noqa: F401
    from vtg_plugins.models import r2_postprocess
    from vtg_plugins.registry import MODELS
    fx = torch.load(fixture, map_location='cpu', weights_only=True)
    state_dict, cfg = _converter().convert_state_dict(fx['state_dict'])
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
    res: Dict[str, float] = {}
    with torch.no_grad():
        out = model(inputs, samples, mode='tensor')
        losses = model(inputs, samples, mode='loss')
        raw = model.predict_raw(inputs, samples)
    train = ref['batch_train_mode']
    for key, val in train['losses'].items():
        res[key] = _diff(losses.get(key), val)
    res['loss_keys'] = 0. if set(losses) == set(train['losses']) else math.inf
    for key in ('video_emb', 'query_emb', 'video_msk', 'out_class',
                'out_coord', 'point', 'pymid_msk', 'coll_v', 'coll_q'):
        res[key] = _diff(out[key], train[key])
    for key in ('saliency', 'boundary'):
        if key in ref['per_sample_test_mode'][0]:
            res[f'test_{key}'] = _diff([r.get(key) for r in raw],
                                       [r[key] for r in
                                        ref['per_sample_test_mode']])
    for name, records in ref['postprocessed'].items():
        parsed = _postprocess_cfg(name)
        if name == 'youtube_evaluate':
            ours = youtube_map([r['saliency'] for r in raw], inp['match'])
            res['youtube_mAP'] = abs(ours - records['mAP'])
        elif parsed is not None:
            unit, nms = parsed
            windows = [
                r2_postprocess(r['boundary'], samples[i]['duration'], unit,
                               nms).tolist() for i, r in enumerate(raw)
            ]
            res[f'post_{name}'] = _diff(
                windows, [r['pred_relevant_windows'] for r in records])
    res = {k: (v if math.isfinite(v) else float('inf')) for k, v in
           res.items()}
    res['ok'] = all(v <= atol for v in res.values())
    return res


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('fixture')
    parser.add_argument('--atol', type=float, default=DEFAULT_ATOL,
                        help=f'max abs difference (default {DEFAULT_ATOL})')
    args = parser.parse_args(argv)
    res = run_parity(args.fixture, args.atol)
    print(json.dumps(res))
    return 0 if res['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
