"""StepAlignmentLoss against a cell-loop oracle, the negative sampler's
invariants, the zero loss, and argument errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vtg_tempclr.models.losses import StepAlignmentLoss, sample_step_negatives


def _close(a, b):
    return torch.allclose(a, b, atol=1e-10, rtol=1e-8)


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
