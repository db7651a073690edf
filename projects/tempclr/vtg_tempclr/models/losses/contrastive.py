"""VideoCLIP's in-batch contrastive loss (official ``MMContraLoss``)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from vtg_plugins.registry import MODELS


@MODELS.register_module()
class SymmetricContrastiveLoss(nn.Module):
    """``CE(v t^T, arange) + CE(t v^T, arange)`` over the batch (official
    ``MMContraLoss``; raw dot products, no temperature)."""

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """
        Args:
            video: ``[N, H]`` pooled video embeddings.
            text: ``[N, H]`` pooled text embeddings; row ``i`` pairs with
                video row ``i``.

        Returns:
            A scalar.
        """
        if video.dim() != 2 or video.shape != text.shape:
            raise ValueError('SymmetricContrastiveLoss expects video and text '
                             f'[N, H] of one shape, got {list(video.shape)} '
                             f'and {list(text.shape)}')
        targets = torch.arange(len(video), device=video.device)
        return (F.cross_entropy(video @ text.t(), targets) +
                F.cross_entropy(text @ video.t(), targets))
