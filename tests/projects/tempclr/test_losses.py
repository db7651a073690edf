"""The losses package: SymmetricContrastiveLoss against its formula (built
through the registry), and the float32 zero of both alignment losses for
half-precision inputs."""
import pytest
import torch

from vtg_plugins.registry import MODELS
from vtg_tempclr.models.losses import (StepAlignmentLoss,
                                       SymmetricContrastiveLoss,
                                       TemporalAlignmentLoss)


def _close(a, b):
    return torch.allclose(a, b, atol=1e-10, rtol=1e-8)


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


def test_zero_losses_are_float32_for_half_inputs():
    video = torch.randn(8, 4, dtype=torch.float16, requires_grad=True)
    same = torch.zeros(8, dtype=torch.long)
    loss = TemporalAlignmentLoss(
        clip_per_video=4, sampling_threshold=2,
        total_sample_size=2)(video, video, same, same, same, same)
    assert loss.dtype == torch.float32
    loss = StepAlignmentLoss()(torch.randn(3, 4, dtype=torch.float16),
                               torch.randn(6, 4, dtype=torch.float16),
                               torch.tensor([1]),
                               torch.ones(6, dtype=torch.long))
    assert loss.dtype == torch.float32
