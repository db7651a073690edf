"""projects/tstl/tools/benchmark.py at tiny size: the report's fields, the
agreement of the two attention formulations and the FLOP counts (never a
timing)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

TOOL = Path(__file__).resolve().parents[3] / 'projects' / 'tstl' / 'tools' \
    / 'benchmark.py'


def _tool():
    spec = importlib.util.spec_from_file_location('_tstl_benchmark', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_sdpa_macs() -> int:
    """Attention MACs of the tiny bidir model, by hand: ``heads * Nq * Nk *
    (d + dv)`` per sequence. Tiny: D 64, 4 heads, 2 blocks, 4 frames of
    32 x 32 with patch 8 (P = 16), tubelet 2 (T' = 2), B-CAST width 32."""
    heads, d, dc, p, t = 4, 16, 8, 16, 2
    clip = t * heads * (p + 1)**2 * 2 * d  # per frame, with the cls token
    videomae = heads * (t * p)**2 * 2 * d
    t2s = p * heads * t * t * 2 * dc  # each patch attends over time
    s2t = t * heads * p * p * 2 * dc  # each tubelet over the frame's patches
    return 2 * (clip + videomae + t2s + s2t)


def test_sdpa_handler_counts_as_the_written_out_matmuls():

    class Attend(nn.Module):

        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, q, k, v):
            return self.fn(q, k, v)

    def explicit(q, k, v):
        return ((q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)).softmax(-1) @ v

    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), \
        torch.randn(2, 3, 7, 4)
    sdpa = FlopCountAnalysis(
        Attend(F.scaled_dot_product_attention),
        (q, k, v)).set_op_handle('aten::scaled_dot_product_attention',
                                 _tool()._sdpa_flop_jit)
    plain = FlopCountAnalysis(Attend(explicit), (q, k, v))
    for a in (sdpa, plain):
        a.unsupported_ops_warnings(False)
    assert sdpa.total() == plain.total() == 2 * 3 * 5 * 7 * (8 + 4)


@pytest.mark.slow
def test_tiny_benchmark_report(run_cmd):
    proc = run_cmd([
        sys.executable, TOOL, '--size', 'tiny', '--rounds', '1', '--threads',
        '1'
    ])
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report['size'] == 'tiny' and report['input'] == [1, 3, 4, 32, 32]
    for variant in ('plain', 'ours'):
        for mode in ('forward', 'train'):
            part = report[variant][mode]
            assert len(part['times_s']) == 1 and part['median_s'] > 0
            assert part['peak_rss_gib'] > 0
    assert set(report['ratio_ours_over_plain']) == {
        'forward_time', 'forward_peak_rss', 'train_time', 'train_peak_rss'
    }
    outputs = report['outputs']
    assert outputs['agree'] and outputs['max_abs_output'] > 0
    assert max(outputs['max_abs_diff'].values()) < 1e-5
    assert outputs['train_loss_abs_diff'] < 1e-5
    flops = report['flops']
    assert flops['equal'] and flops['ours'] == flops['plain']
    assert flops['sdpa'] == _tiny_sdpa_macs()
    assert 'official' not in report  # only quoted at full size
