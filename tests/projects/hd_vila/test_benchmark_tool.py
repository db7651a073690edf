"""projects/hd_vila/tools/benchmark.py (+ its benchmark_workloads.py and
loop_baselines.py): the two formulations agree (the ResNet-50 bottlenecks
too, in float64, forward and gradients; the 1x1-convolution linears in
float32), the FLOP handler and the per-query retrieval loop are right (ties
included), and at ``--size tiny`` the report holds what it says (never a
timing)."""
import json
import sys

import pytest
import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn

from vtg_hd_vila.models.video_encoder import HDVILAVideoEncoder
from vtg_plugins.evaluation.functional import text_video_retrieval

from ._tools import TOOLS, load_tool

TOOL = TOOLS / 'benchmark.py'


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
        Attend(F.scaled_dot_product_attention), (q, k, v)).set_op_handle(
            'aten::scaled_dot_product_attention',
            load_tool('benchmark_workloads').sdpa_flop_jit)
    plain = FlopCountAnalysis(Attend(explicit), (q, k, v))
    for a in (sdpa, plain):
        a.unsupported_ops_warnings(False)
    assert sdpa.total() == plain.total() == 2 * 3 * 5 * 7 * (8 + 4)


def test_loop_retrieval_equals_the_metric_with_ties():
    """Duplicated videos tie with the GT: every tied entry gets a rank."""
    loops = load_tool('loop_baselines')
    text, video = loops.retrieval_features(40, 8, seed=3)
    video[5] = video[4]  # text 4 and 5 each tie between videos 4 and 5
    video[20] = video[7]
    loop = loops.loop_text_video_retrieval(text, video)
    assert loop == dict(text_video_retrieval(text, video, 'hd_vila'))
    assert 0 < loop['t2v_R1'] < 1 and loop['t2v_MedR'] >= 1


@pytest.mark.parametrize('train', [False, True])
def test_formulations_agree_with_resnet50_in_float64(train):
    """Bottleneck blocks (the tiny report runs BasicBlocks): the same grid
    and, in train mode with stochastic depth, the same gradients; each
    variant really runs its own functions."""
    tool = load_tool('benchmark_workloads')
    g = torch.Generator().manual_seed(1)
    keyframes = torch.randn(2, 3, 64, 128, generator=g, dtype=torch.float64)
    frames = torch.randn(2, 4, 3, 16, 32, generator=g, dtype=torch.float64)
    results = {}
    for variant in tool.VARIANTS:
        torch.manual_seed(0)
        enc = HDVILAVideoEncoder(
            hidden_size=16,
            resnet_depth=50,
            timesformer_depth=2,
            timesformer_heads=2,
            num_frames=5,
            grid_size=(1, 2),
            drop_path_rate=0.5,
            fused_attn=variant == 'ours')
        tool.randomise(enc, torch.Generator().manual_seed(2))
        enc.double().train(train)
        with tool.variant(variant) as counted:
            torch.manual_seed(5)
            out = enc(keyframes, frames)
            grads = torch.autograd.grad(out.square().sum(),
                                        list(enc.parameters()))
        assert all(c.calls > 0 for c in counted.values()), variant
        results[variant] = out, grads
    (out_p, grads_p), (out_o, grads_o) = results['plain'], results['ours']
    torch.testing.assert_close(out_o, out_p, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_o, grads_p):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert out_o.abs().max() > 0.1


@pytest.mark.parametrize('shape', [(7, 16), (3, 5, 16), (2, 4, 3, 16)])
def test_token_linear_equals_the_linear(shape):
    """The 1x1-convolution form of the TimeSformer's linears (float32 CPU):
    values and gradients, contiguous and permuted inputs."""
    from vtg_hd_vila.models.timesformer import TokenLinear
    torch.manual_seed(0)
    linear = TokenLinear(16, 24)
    for x in (torch.randn(shape), torch.randn(
            shape[::-1]).permute(*range(len(shape) - 1, -1, -1))):
        x.requires_grad_()
        out = linear(x)
        ref = F.linear(x, linear.weight, linear.bias)
        assert out.shape == (*shape[:-1], 24)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
        grads = torch.autograd.grad(out.square().sum(), (x, linear.weight))
        refs = torch.autograd.grad(ref.square().sum(), (x, linear.weight))
        for a, b in zip(grads, refs):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_tiny_benchmark_report(run_cmd):
    proc = run_cmd([
        sys.executable, TOOL, '--size', 'tiny', '--rounds', '1', '--threads',
        '1', '--dtype', 'float64'
    ])
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert (report['size'], report['dtype'],
            report['rounds']) == ('tiny', 'float64', 1)
    assert report['clip'] == dict(
        keyframe=[128, 192], frames=[6, 32, 48], text_len=12)
    assert report['batch']['train'] == dict(videos=2, clips=2)
    for variant in ('plain', 'ours'):
        for mode in ('forward', 'train'):
            part = report[variant][mode]
            assert len(part['times_s']) == 1 and part['median_s'] > 0
            assert part['peak_rss_gib'] >= part['pass_peak_gib'] > 0
    assert set(report['ratio_ours_over_plain']) == {
        f'{m}_{q}'
        for m in ('forward', 'train')
        for q in ('time', 'peak_rss', 'pass_peak')
    }

    outputs = report['outputs']
    assert outputs['agree'] and outputs['forward']['max_abs_output'] > 0.1
    assert outputs['forward']['max_abs_diff'] < 1e-12
    train = outputs['train']
    assert train['loss'] > 0 and train['loss_abs_diff'] < 1e-12
    grads = train['gradients']
    assert grads['same_params'] and grads['params_with_grad'] > 100
    assert max(grads['all_rel'], grads['worst_param_rel']) < 1e-10

    flops = report['flops']
    ours, plain = flops['by_operator']['ours'], flops['by_operator']['plain']
    assert plain['batch_norm'] > 0 and 'batch_norm' not in ours  # folded
    assert 'linear' not in ours  # the TimeSformer's linears as 1x1 convs
    # the last block runs the 6 other frames' tokens (2 x 3 grid) through
    # temporal proj + fc, spatial qkv + proj and the MLP in plain only
    c, others, positions = 32, 6, 2 * 3
    assert plain['conv'] + plain['linear'] - ours['conv'] == \
        others * positions * 14 * c * c
    assert flops['ours'] == sum(ours.values()) < flops['plain']
    assert 'aten::softmax' in flops['skipped_ops']['plain']

    ev = report['retrieval_eval']
    assert (ev['pairs'], ev['dim']) == (100, 16) and ev['metrics_equal']
    assert 0 < ev['metrics']['t2v_R1'] < 1
    assert set(report['goals']['met']) == set(
        report['ratio_ours_over_plain']) | {'outputs_identical', 'eval_time'}
    assert report['goals']['met']['outputs_identical']
    assert len(report['load_avg']['start']) == 3
    assert any(ln.startswith('outputs agree (float64): True') for ln in lines)
