"""The workloads of ``benchmark.py`` (HD-VILA): the two formulations, the
models and inputs they run on, and what one measuring child runs.

``variant('plain' | 'ours')`` switches the functions where the
formulations differ (see ``benchmark.py``); ``build_encoder`` /
``build_retrieval`` make the models (random weights, same for both
variants) and inputs of a size; ``run_forward`` / ``run_train`` /
``run_flops`` are the children's measurements, each returning a JSON-able
dict.
"""
import math
import time
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterator, List

#: workloads per size
SIZES = dict(
    full=dict(
        encoder=dict(),  # HDVILAVideoEncoder's defaults are the official
        bert=dict(vocab_size=30522),  # BERT-large (build_bert_config)
        keyframe=(640, 1024),
        frames=(160, 256),
        num_frm=7,
        text_len=50,
        eval_pairs=1000,
        eval_dim=1024),
    tiny=dict(
        encoder=dict(
            hidden_size=32,
            resnet_depth=18,
            timesformer_depth=2,
            timesformer_heads=2,
            grid_size=(2, 3)),
        bert=dict(
            vocab_size=64,
            hidden_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64),
        keyframe=(128, 192),
        frames=(32, 48),
        num_frm=7,
        text_len=12,
        eval_pairs=100,
        eval_dim=16))
#: videos x clips of the encoder forward and of the retrieval train step
FORWARD_BATCH, TRAIN_BATCH = (1, 1), (2, 2)
VARIANTS = ('plain', 'ours')
MODES = ('forward', 'train')

# ------------------------------------------------------------- variants


class Counted:
    """A function that counts its calls (proves a patch took)."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def _plain_conv_bn(conv, bn, x):
    return bn(conv(x))


def _plain_block(block, x):
    return block(x)


def _plain_forward_frame(block, x, frame):
    return block(x)[:, :, :, frame]


def _plain_linear(linear, x):
    import torch.nn.functional as F
    return F.linear(x, linear.weight, linear.bias)


@contextmanager
def variant(name: str) -> Iterator[Dict[str, Counted]]:
    """Patch (plain) or wrap (ours) the functions where the variants
    differ (and the ResNets' memory format); yields their call
    counters."""
    from unittest import mock

    import torch

    from vtg_hd_vila.models import resnet_branches, timesformer
    block_cls = timesformer.DividedSpaceTimeBlock
    if name == 'plain':
        fns = dict(
            conv_bn=_plain_conv_bn,
            block_forward=_plain_block,
            forward_frame=_plain_forward_frame,
            token_linear=_plain_linear)
    else:
        fns = dict(
            conv_bn=resnet_branches.conv_bn,
            block_forward=resnet_branches.block_forward,
            forward_frame=block_cls.forward_frame,
            token_linear=timesformer.token_linear)
    counted = {k: Counted(f) for k, f in fns.items()}
    frame = counted['forward_frame']
    patches = [
        (resnet_branches, 'MEMORY_FORMAT',
         torch.contiguous_format if name == 'plain' else torch.channels_last),
        (resnet_branches, 'conv_bn', counted['conv_bn']),
        (resnet_branches, 'block_forward', counted['block_forward']),
        (block_cls, 'forward_frame', lambda self, x, f: frame(self, x, f)),
        (timesformer, 'token_linear', counted['token_linear']),
    ]
    with ExitStack() as stack:
        for target, attr, value in patches:
            stack.enter_context(mock.patch.object(target, attr, value))
        yield counted


# ---------------------------------------------------------------- models


def randomise(model, g) -> None:
    """Move BatchNorm statistics / affine parameters, ``temporal_fc`` and
    ``time_embed`` away from their init (see the module doc)."""
    import torch
    from torch import nn

    from vtg_hd_vila.models.timesformer import TimeSformer
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                shape = m.running_mean.shape
                m.running_mean.copy_(0.1 * torch.randn(shape, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(shape, generator=g))
                m.weight.copy_(0.5 + torch.rand(shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(shape, generator=g))
            elif isinstance(m, TimeSformer):
                m.time_embed.copy_(
                    0.02 * torch.randn(m.time_embed.shape, generator=g))
                for blk in m.blocks:
                    w = blk.temporal_fc.weight
                    w.copy_(0.02 * torch.randn(w.shape, generator=g))


def _encoder_cfg(size: str, variant: str) -> dict:
    cfg = SIZES[size]
    grid = cfg['encoder'].get('grid_size', (10, 16))
    return dict(
        type='HDVILAVideoEncoder',
        num_frames=cfg['num_frm'],
        grid_size=grid,
        fused_attn=variant == 'ours',
        **{
            k: v
            for k, v in cfg['encoder'].items() if k != 'grid_size'
        })


def _clips(size: str, videos: int, clips: int, g):
    """Normalised ``keyframes [B, clips, 3, Hk, Wk]``, ``frames [B, clips,
    T - 1, 3, Hl, Wl]``."""
    import torch
    cfg = SIZES[size]
    return dict(
        keyframes=torch.randn(videos, clips, 3, *cfg['keyframe'], generator=g),
        frames=torch.randn(
            videos, clips, cfg['num_frm'] - 1, 3, *cfg['frames'], generator=g))


def build_encoder(size: str, variant: str, dtype: str = 'float32'):
    """The encoder (eval mode) and one clip ``(keyframes [1, 3, Hk, Wk],
    frames [1, T - 1, 3, Hl, Wl])``."""
    import torch

    import vtg_hd_vila  # noqa: F401  (registers the models)
    from vtg_plugins.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(_encoder_cfg(size, variant)).eval()
    g = torch.Generator().manual_seed(1)
    randomise(model, g)
    clips = _clips(size, *FORWARD_BATCH, g)
    dtype = getattr(torch, dtype)
    return model.to(dtype), (clips['keyframes'].flatten(0, 1).to(dtype),
                             clips['frames'].flatten(0, 1).to(dtype))


def build_retrieval(size: str, variant: str, dtype: str = 'float32'):
    """``HDVILARetrieval`` (train mode), its inputs and data samples."""
    import torch
    from mmengine.structures import BaseDataElement

    import vtg_hd_vila  # noqa: F401
    from vtg_plugins.registry import MODELS
    cfg = SIZES[size]
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='HDVILARetrieval',
            video_encoder=_encoder_cfg(size, variant),
            bert_config=dict(
                cfg['bert'],
                attention_probs_dropout_prob=0.0,
                attn_implementation='sdpa' if variant == 'ours' else 'eager'),
            data_preprocessor=None)).train()
    g = torch.Generator().manual_seed(1)
    randomise(model, g)
    model.to(getattr(torch, dtype))
    inputs = {
        k: x.to(getattr(torch, dtype))
        for k, x in _clips(size, *TRAIN_BATCH, g).items()
    }
    samples = []
    vocab, length = cfg['bert']['vocab_size'], cfg['text_len']
    for i in range(TRAIN_BATCH[0]):
        n = length - 4 * i  # captions of different lengths: padding
        ids = torch.zeros(length, dtype=torch.long)
        ids[:n] = torch.randint(  # clear of the special ids
            min(1000, vocab // 2),
            vocab, (n, ),
            generator=g)
        mask = (torch.arange(length) < n).long()
        samples.append(BaseDataElement(text_ids=ids, text_mask=mask))
    return model, inputs, samples


# -------------------------------------------------------------- children


def _memory_kib() -> Dict[str, int]:
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('VmHWM', 'VmRSS'):
                out[key] = int(value.split()[0])
    return out


class _PeakMemory:
    """The resident-set peak from now on (``clear_refs`` resets
    ``VmHWM``)."""

    def __init__(self) -> None:
        self.build_peak = _memory_kib()['VmHWM']
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        self.start = _memory_kib()['VmRSS']

    def report(self) -> dict:
        peak = _memory_kib()['VmHWM']
        return dict(
            peak_rss_gib=peak / 2**20,
            pass_peak_gib=(peak - self.start) / 2**20,
            build_peak_gib=self.build_peak / 2**20)


def run_forward(args) -> dict:
    import torch
    model, (keyframes, frames) = build_encoder(args.size, args._child,
                                               args.dtype)
    times = []
    with variant(args._child) as counted, torch.no_grad():
        memory = _PeakMemory()
        for step in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            out = model(keyframes, frames)
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)
            if step == 0 and args._out:
                torch.save(out.clone(), args._out)
            del out
    return dict(
        times=times,
        calls={
            k: c.calls
            for k, c in counted.items()
        },
        **memory.report())


def run_train(args) -> dict:
    import torch
    model, inputs, samples = build_retrieval(args.size, args._child,
                                             args.dtype)
    times, losses = [], []
    with variant(args._child) as counted:
        memory = _PeakMemory()
        for step in range(args.warmup + args.steps):
            torch.manual_seed(step)  # the same random draws per variant
            t0 = time.perf_counter()
            loss = sum(model.loss(inputs, samples).values())
            loss.backward()
            if step >= args.warmup:
                times.append(time.perf_counter() - t0)
            losses.append(float(loss))
            if step == 0 and args._out:
                torch.save(_gradients(model), args._out)
            del loss
            model.zero_grad(set_to_none=True)
    return dict(
        times=times,
        losses=losses,
        calls={
            k: c.calls
            for k, c in counted.items()
        },
        **memory.report())


def _gradients(model) -> dict:
    """Every parameter's gradient (by name)."""
    return {
        name: p.grad.clone()
        for name, p in model.named_parameters() if p.grad is not None
    }


def sdpa_flop_jit(inputs: List, outputs: List) -> int:
    """Multiply-adds of ``scaled_dot_product_attention(q, k, v)``: ``q k^T``
    and the weighted sum of ``v`` (fvcore's matmul convention)."""
    from fvcore.nn.jit_handles import get_shape
    q, k, v = (get_shape(i) for i in inputs[:3])
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def run_flops(args) -> dict:
    from fvcore.nn import FlopCountAnalysis
    counts = {}
    for name in VARIANTS:
        model, clip = build_encoder(args.size, name)  # float32's ops
        with variant(name):
            analysis = FlopCountAnalysis(model, clip).set_op_handle(
                'aten::scaled_dot_product_attention', sdpa_flop_jit)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings('none')
            counts[name] = dict(
                total=analysis.total(),
                by_operator=dict(analysis.by_operator()),
                skipped_ops=dict(analysis.unsupported_ops()))
    return counts
