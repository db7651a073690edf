"""The example model: the three modes of the forward contract."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from vtg_example_project.models import ExampleMomentModel


def _sample(num_clips, windows, labels=None, duration=None):
    sample = BaseDataElement(
        metainfo=dict(
            qid=f'q{num_clips}',
            clip_len=2.0,
            duration=duration or 2.0 * num_clips))
    sample.gt_windows = torch.tensor(windows, dtype=torch.float32)
    if labels is None:
        labels = [0.0] * num_clips
    sample.clip_labels = torch.tensor(labels)
    return sample


def test_tensor_mode_pads_videos_of_different_lengths():
    torch.manual_seed(0)
    model = ExampleMomentModel(in_dim=4, hidden_dim=8)
    inputs = [torch.randn(3, 4), torch.randn(5, 4)]
    logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 5)
    assert torch.isinf(logits[0, 3:]).all() and torch.isfinite(logits[1]).all()
    # a video's logits do not depend on the other videos of the batch
    alone = model([inputs[0]], mode='tensor')
    torch.testing.assert_close(logits[0, :3], alone[0])


def test_loss_averages_over_valid_clips_only():
    torch.manual_seed(0)
    model = ExampleMomentModel(in_dim=4, hidden_dim=8)
    inputs = [torch.randn(2, 4), torch.randn(4, 4)]
    samples = [
        _sample(2, [[0, 2]], [1.0, 0.0]),
        _sample(4, [[2, 6]], [0.0, 1.0, 1.0, 0.0])
    ]
    loss = model(inputs, samples, mode='loss')['loss_clip']
    logits = torch.cat([model([x], mode='tensor')[0] for x in inputs])
    labels = torch.cat([s.clip_labels for s in samples])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.scorer[0].weight.grad.abs().sum() > 0


def test_loss_refuses_labels_of_another_length():
    model = ExampleMomentModel(in_dim=4, hidden_dim=8)
    with pytest.raises(ValueError, match='clip_labels'):
        model([torch.randn(3, 4)], [_sample(2, [[0, 2]])], mode='loss')


def test_peak_run_extends_around_the_best_clip():
    prob = torch.tensor([0.9, 0.2, 0.6, 0.95, 0.7, 0.4, 0.8])
    assert ExampleMomentModel.peak_run(prob, 0.5) == (2, 4)
    # the peak alone when nothing reaches the threshold
    assert ExampleMomentModel.peak_run(torch.tensor([0.1, 0.3, 0.2]),
                                       0.5) == (1, 1)


def test_predict_gives_a_window_in_seconds_inside_the_video():
    model = ExampleMomentModel(in_dim=1, hidden_dim=1)
    # logit = relu(x) - 0.5 with the weights set by hand
    with torch.no_grad():
        model.scorer[0].weight.fill_(1.0)
        model.scorer[0].bias.zero_()
        model.scorer[2].weight.fill_(1.0)
        model.scorer[2].bias.fill_(-0.5)
    x = torch.tensor([[0.0], [1.0], [3.0], [2.0], [0.0]])
    # the last clip is cut by the duration (9 s, clips of 2 s)
    out = model([x, x], [
        _sample(5, [[2, 8]], duration=9.0),
        _sample(5, [[2, 8]], duration=9.0)
    ],
                mode='predict')
    assert len(out) == 2
    window = out[0].pred_relevant_windows
    assert window.shape == (1, 3)
    start, end, score = window[0].tolist()
    assert (start, end) == (2.0, 8.0)
    prob = torch.sigmoid(torch.tensor([0.5, 2.5, 1.5]))
    assert score == pytest.approx(prob.mean().item())
    assert out[0].pred_saliency_scores.shape == (5, )
    with_end = model([torch.full((5, 1), 3.0)],
                     [_sample(5, [[0, 9]], duration=9.0)],
                     mode='predict')
    assert with_end[0].pred_relevant_windows[0, 1].item() == 9.0


def test_unknown_mode_is_refused():
    model = ExampleMomentModel(in_dim=4)
    with pytest.raises(ValueError, match="mode must be"):
        model([torch.randn(2, 4)], mode='train')
