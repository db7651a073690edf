"""TempCLR losses: the symmetric contrastive loss against its formula, the
temporal alignment loss against the official fixture (injected and default
permutations), the step alignment loss against a cell-loop oracle, the
negative sampler's invariants, and argument errors."""
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vtg_plugins.registry import MODELS
from vtg_plugins.testing.refs import ref_path
from vtg_tempclr.models.losses import (StepAlignmentLoss,
                                       SymmetricContrastiveLoss,
                                       TemporalAlignmentLoss,
                                       non_overlapping_clips,
                                       sample_step_negatives)

BOUNDS = ('text_start', 'text_end', 'video_start', 'video_end')


def _close(a, b):
    return torch.allclose(a, b, atol=1e-10, rtol=1e-8)


def _fixture(metric):
    path = ref_path('tempclr', 'tempclr_alignment_loss.pt')
    return torch.load(path, weights_only=False)[metric]


def _run(loss_fn, ref):
    video = ref['pooled_video'].clone().requires_grad_()
    text = ref['pooled_text'].clone().requires_grad_()
    loss = loss_fn(video, text, *(ref[k] for k in BOUNDS))
    loss.backward()
    return loss, video.grad, text.grad


def test_symmetric_contrastive_loss_is_both_directions_of_in_batch_ce():
    g = torch.Generator().manual_seed(0)
    video = torch.randn(5, 8, generator=g, dtype=torch.float64)
    text = torch.randn(5, 8, generator=g, dtype=torch.float64)
    expected = 0.0
    for i in range(5):
        v2t = torch.stack([video[i] @ text[j] for j in range(5)])
        t2v = torch.stack([text[i] @ video[j] for j in range(5)])
        expected += -(v2t[i] - v2t.logsumexp(0)) - (t2v[i] - t2v.logsumexp(0))
    loss = MODELS.build(dict(type='SymmetricContrastiveLoss'))(video, text)
    assert _close(loss, expected / 5)
    with pytest.raises(ValueError, match='of one shape'):
        SymmetricContrastiveLoss()(video, text[:4])


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
def test_official_alignment_loss_with_the_fixture_permutations(metric):
    ref = _fixture(metric)
    assert ref['config']['metric'] == metric
    lists = iter(ref['first64_shuffled_perms_per_kept_video'])
    loss_fn = MODELS.build(
        dict(
            type='TemporalAlignmentLoss',
            metric=metric,
            clip_per_video=ref['config']['clip_per_video'],
            sampling_threshold=ref['config']['sampling_threshold'],
            total_sample_size=ref['config']['total_sample_size'],
            lbda=ref['config']['lbda'],
            permutation_source=lambda n: next(lists)))
    loss, grad_video, grad_text = _run(loss_fn, ref)
    assert loss.dim() == 0 and _close(loss, ref['loss'])
    assert _close(grad_video, ref['grad_pooled_video'])
    assert _close(grad_text, ref['grad_pooled_text'])
    assert next(lists, None) is None  # one list per kept video


@pytest.mark.parametrize('metric', ['dtw', 'otam'])
def test_default_permutations_follow_the_official_python_random(metric):
    ref = _fixture(metric)
    random.seed(ref['python_random_seed'])
    loss, grad_video, _ = _run(TemporalAlignmentLoss(metric=metric), ref)
    assert _close(loss, ref['loss'])
    assert _close(grad_video, ref['grad_pooled_video'])


def test_non_overlapping_clips_and_selected_rows_match_the_fixture():
    ref = _fixture('dtw')
    bounds = [ref[k].view(3, 16).tolist() for k in BOUNDS]
    for v, expected in enumerate(ref['nonoverlapped_indices']):
        assert non_overlapping_clips(*(b[v] for b in bounds)) == expected
    rows = TemporalAlignmentLoss().selected_rows(*(ref[k] for k in BOUNDS))
    # video 2 keeps one clip (< 5) and is left out; the others pick 5 clips
    # at int(linspace(0, len - 1, 5)) of their kept ones
    kept = ref['nonoverlapped_indices']
    assert rows == [[kept[0][i] for i in (0, 1, 3, 5, 7)],
                    [16 + kept[1][i] for i in (0, 1, 3, 4, 6)]]


def test_no_qualifying_video_gives_a_zero_attached_to_the_graph():
    video = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    text = torch.randn(8, 4, dtype=torch.float64, requires_grad=True)
    same = torch.zeros(8, dtype=torch.long)  # every clip overlaps clip 0
    loss = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2,
        total_sample_size=2)(video, text, same, same, same, same)
    loss.backward()
    assert loss.dim() == 0 and loss.item() == 0.0
    assert torch.equal(video.grad, torch.zeros_like(video))


def test_candidates_skip_identity_orders_and_refuse_bad_sources():

    def source(n):
        return [(0, 1, 2), (2, 1, 0), (0, 1, 2), (1, 0, 2), (0, 2, 1)]

    loss_fn = TemporalAlignmentLoss(
        clip_per_video=4,
        sampling_threshold=3,
        total_sample_size=4,
        permutation_source=source)
    assert loss_fn.candidate_orders() == [[0, 1, 2], [2, 1, 0], [1, 0, 2],
                                          [0, 2, 1]]
    loss_fn.total_sample_size = 5
    with pytest.raises(ValueError, match='gave only 3 non-identity orders'):
        loss_fn.candidate_orders()
    loss_fn.permutation_source = lambda n: [(0, 1, 1)]
    with pytest.raises(ValueError, match=r'not an order of range\(3\)'):
        loss_fn.candidate_orders()


def test_alignment_loss_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown metric 'soft'"):
        TemporalAlignmentLoss(metric='soft')
    with pytest.raises(ValueError, match='sampling_threshold must be in'):
        TemporalAlignmentLoss(clip_per_video=4, sampling_threshold=5)
    with pytest.raises(ValueError, match='only 5 non-identity orders'):
        TemporalAlignmentLoss(sampling_threshold=3, total_sample_size=32)
    loss_fn = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2, total_sample_size=2)
    video = torch.randn(6, 3)
    bounds = [torch.arange(6)] * 4
    with pytest.raises(ValueError, match='6 rows are not a whole number'):
        loss_fn(video, video, *bounds)
    with pytest.raises(ValueError, match=r'video_end has shape \[3\]'):
        loss_fn(video[:4], video[:4], *[b[:4] for b in bounds[:3]],
                bounds[3][:3])


def test_alignment_loss_in_bfloat16_is_float32_and_close():
    ref = _fixture('otam')
    lists = ref['first64_shuffled_perms_per_kept_video']
    half = {
        k: ref[k].to(torch.bfloat16)
        for k in ('pooled_video', 'pooled_text')
    }
    loss_fn = TemporalAlignmentLoss(
        metric='otam', permutation_source=lambda n, it=iter(lists): next(it))
    loss = loss_fn(half['pooled_video'], half['pooled_text'],
                   *(ref[k] for k in BOUNDS))
    assert loss.dtype == torch.float32
    assert abs(float(loss) - float(ref['loss'])) < 2e-2 * float(ref['loss'])


# ---------------------------------------------------------------- step loss


def _loop_cost(d, metric, lbda):
    """DTW (or OTAM both ways) of one ``[L, M]`` matrix, cell by cell."""

    def softmin(values):
        return -lbda * torch.logsumexp(-torch.stack(values) / lbda, 0)

    def dtw(d):
        rows, cols = d.shape
        c = {}
        for i in range(rows):
            for j in range(cols):
                if i and j:
                    c[i, j] = d[i, j] + softmin(
                        [c[i - 1, j - 1], c[i, j - 1], c[i - 1, j]])
                elif i or j:
                    c[i, j] = d[i, j] + (c[i - 1, j] if i else c[i, j - 1])
                else:
                    c[i, j] = d[i, j]
        return c[rows - 1, cols - 1]

    def otam(d):
        p = F.pad(d, (1, 1))
        rows, cols = p.shape
        c = {(i, 0): d.new_zeros(()) for i in range(rows)}
        for j in range(1, cols):
            c[0, j] = p[0, j] + c[0, j - 1]
        for i in range(1, rows):
            for j in range(1, cols):
                near = [c[i - 1, j - 1], c[i, j - 1]]
                near += [c[i - 1, j]] if j in (1, cols - 1) else []
                c[i, j] = p[i, j] + softmin(near)
        return c[rows - 1, cols - 1]

    return dtw(d) if metric == 'dtw' else otam(d) + otam(d.t())


def step_loss_oracle(step_text,
                     frame_video,
                     step_sequence,
                     frame_steps,
                     metric,
                     total,
                     multiplier,
                     seed,
                     inner_shuffling=True,
                     lbda=0.1,
                     eps=0.01):
    """The step loss written out with loops; the negatives come from
    ``sample_step_negatives`` with a generator seeded like the loss's (its
    own invariants are tested below)."""
    sequence = []
    for s in step_sequence.tolist():
        if not sequence or sequence[-1] != s:
            sequence.append(s)
    num = min(len(frame_video), len(sequence) * multiplier)
    keep = [int(f) for f in np.linspace(0, len(frame_video) - 1, num)]
    runs = []
    for pos, k in enumerate(keep):
        if pos and frame_steps[k] == frame_steps[keep[pos - 1]]:
            runs[-1] += 1
        else:
            runs.append(1)
    step_orders, frame_orders = sample_step_negatives(
        torch.tensor(sequence), torch.tensor(runs), total - 1, inner_shuffling,
        torch.Generator().manual_seed(seed))
    candidates = [(sequence, list(range(num)))] + list(
        zip(step_orders.tolist(), frame_orders.tolist()))

    def dist(step, frame):
        x, y = step_text[step], frame_video[keep[frame]]
        return 1 - (x @ y) / (x.norm() * y.norm() + eps)

    logits = []
    for steps, frames in candidates:
        d = torch.stack(
            [torch.stack([dist(s, f) for f in frames]) for s in steps])
        logits.append(-_loop_cost(d, metric, lbda))
    return -torch.log_softmax(torch.stack(logits), 0)[0]


def _step_inputs(num_frames=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    step_text = torch.randn(4, 6, generator=g, dtype=torch.float64)
    frame_video = torch.randn(num_frames, 6, generator=g, dtype=torch.float64)
    step_sequence = torch.tensor([2, 2, 0, 3, 0])
    cuts = sorted(
        (torch.randperm(num_frames - 1, generator=g)[:3] + 1).tolist())
    frame_steps = torch.zeros(num_frames, dtype=torch.long)
    for cut, step in zip(cuts, (0, 3, 0)):
        frame_steps[cut:] = step
    frame_steps[:cuts[0]] = 2
    return step_text, frame_video, step_sequence, frame_steps


@pytest.mark.parametrize('metric,multiplier,inner', [('dtw', 10, True),
                                                     ('otam', 10, True),
                                                     ('dtw', 3, True),
                                                     ('otam', 2, False)])
def test_step_loss_matches_the_loop_oracle(metric, multiplier, inner):
    inputs = _step_inputs()
    ours_in = [
        t.clone().requires_grad_() if t.is_floating_point() else t
        for t in inputs
    ]
    loss = StepAlignmentLoss(
        metric,
        total_sample_size=6,
        video_sampling_multiplier=multiplier,
        inner_shuffling=inner,
        generator=torch.Generator().manual_seed(7))(*ours_in)
    loss.backward()
    oracle_in = [
        t.clone().requires_grad_() if t.is_floating_point() else t
        for t in inputs
    ]
    expected = step_loss_oracle(
        *oracle_in, metric, 6, multiplier, seed=7, inner_shuffling=inner)
    expected.backward()
    assert _close(loss, expected)
    for ours, theirs in zip(ours_in[:2], oracle_in[:2]):
        assert _close(ours.grad, theirs.grad)


def test_step_negatives_are_never_the_true_order_and_keep_runs():
    sequence = torch.tensor([1, 0, 1, 2])  # a repeated step: value equality
    runs = torch.tensor([3, 1, 4, 2])
    g = torch.Generator().manual_seed(0)
    steps, frames = sample_step_negatives(sequence, runs, 200, True, g)
    assert steps.shape == (200, 4) and frames.shape == (200, 10)
    assert not (steps == sequence).all(1).any()
    assert (steps.sort(1).values == sequence.sort().values).all()
    bounds = [0, 3, 4, 8, 10]
    for lo, hi in zip(bounds, bounds[1:]):
        assert (frames[:, lo:hi].sort(1).values == torch.arange(lo, hi)).all()
    assert (frames != torch.arange(10)).any()  # frames do get shuffled
    again = sample_step_negatives(sequence, runs, 200, True,
                                  torch.Generator().manual_seed(0))
    assert torch.equal(again[0], steps) and torch.equal(again[1], frames)
    _, fixed = sample_step_negatives(sequence, runs, 5, False, g)
    assert (fixed == torch.arange(10)).all()
    two, _ = sample_step_negatives(torch.tensor([4, 9]), runs, 3, True, g)
    assert (two == torch.tensor([9, 4])).all()
    with pytest.raises(ValueError, match='no other order'):
        sample_step_negatives(torch.tensor([3, 3]), runs, 1, True, g)


def test_step_loss_with_one_step_is_a_zero_attached_to_the_graph():
    step_text, frame_video, _, frame_steps = _step_inputs()
    frame_video.requires_grad_()
    loss = StepAlignmentLoss()(step_text, frame_video, torch.tensor([1, 1]),
                               frame_steps)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(frame_video.grad,
                                              torch.zeros_like(frame_video))


def test_step_loss_arguments_are_checked():
    step_text, frame_video, step_sequence, frame_steps = _step_inputs()
    with pytest.raises(ValueError, match="unknown metric 'cos'"):
        StepAlignmentLoss('cos')
    with pytest.raises(ValueError, match='video_sampling_multiplier'):
        StepAlignmentLoss(video_sampling_multiplier=0)
    with pytest.raises(ValueError, match=r'outside \[0, 4\)'):
        StepAlignmentLoss()(step_text, frame_video, torch.tensor([0, 4]),
                            frame_steps)
    with pytest.raises(ValueError, match=r'frame_steps has shape \[13\]'):
        StepAlignmentLoss()(step_text, frame_video, step_sequence,
                            frame_steps[:13])


def test_zero_losses_are_float32_for_half_inputs():
    video = torch.randn(8, 4, dtype=torch.float16, requires_grad=True)
    same = torch.zeros(8, dtype=torch.long)
    loss = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2,
        total_sample_size=2)(video, video, same, same, same, same)
    assert loss.dtype == torch.float32
    step_text, frame_video, _, frame_steps = _step_inputs()
    loss = StepAlignmentLoss()(step_text.half(), frame_video.half(),
                               torch.tensor([1]), frame_steps)
    assert loss.dtype == torch.float32
