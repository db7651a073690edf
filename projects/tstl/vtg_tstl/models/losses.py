"""TSTL's batch-all triplet loss (``loss_functions/triplet_loss.py``,
``BatchAllTtripletLoss``) as a registered loss module.

Officially it is built as the training ``criterion`` but
``cross_train_class_batch`` only calls the soft-target cross-entropy; it
enters only the validation loss (``0.5 * triplet(features) + 0.5 * CE``),
where ``features`` are the fused head's input (noun + verb last adapters).
Here it is an option of the heads (``feature_loss=dict(type=
'BatchAllTripletLoss', ...)``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from vtg_plugins.registry import MODELS

#: the official ``eps``: zero distances become 0 without an infinite
#: gradient, and positive triplets are those with loss > eps
EPS = 1e-8


def euclidean_distances(features: torch.Tensor) -> torch.Tensor:
    """Pairwise (not squared) Euclidean distances, as the official
    ``euclidean_distance_matrix``: squared distances from the Gram matrix,
    clamped at 0, square root taken only where they are positive (zero
    stays zero, with zero gradient).

    Args:
        features: ``[N, D]``.

    Returns:
        ``[N, N]``.
    """
    gram = features @ features.t()
    sq_norm = gram.diagonal()
    squared = F.relu(sq_norm[None, :] - 2 * gram + sq_norm[:, None])
    zero = squared == 0
    return torch.sqrt(squared + zero * EPS) * ~zero


@MODELS.register_module()
class BatchAllTripletLoss(nn.Module):
    """Mean hinge over all valid triplets that still violate the margin.

    For anchor ``a``, positive ``p`` (same label, ``p != a``) and negative
    ``n`` (other label): ``l = relu(d(a, p) - d(a, n) + margin)`` with
    :func:`euclidean_distances`; the loss is ``sum(l) / (#{l > eps} +
    eps)`` (0 when no triplet violates the margin), times ``loss_weight``.

    Args:
        margin: the official default 1.0.
        loss_weight: scale of the returned loss.
    """

    def __init__(self, margin: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.margin = margin
        self.loss_weight = loss_weight

    def forward(self, features: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """
        Args:
            features: ``[N, D]`` embeddings.
            labels: ``[N]`` integer labels.

        Returns:
            A scalar tensor.
        """
        if features.dim() != 2 or labels.shape != features.shape[:1]:
            raise ValueError(
                'BatchAllTripletLoss expects features [N, D] and labels '
                f'[N], got {list(features.shape)} and {list(labels.shape)}')
        # half-precision features (under autocast) are measured in float32
        dist = euclidean_distances(
            features.to(torch.promote_types(features.dtype, torch.float32)))
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive = same & ~eye  # [a, p]
        # [a, p, n]: n has another label than a (so n != a and n != p)
        valid = positive[:, :, None] & ~same[:, None, :]
        hinge = dist[:, :, None] - dist[:, None, :] + self.margin
        losses = F.relu(hinge) * valid
        num_positive = (losses > EPS).sum()
        loss = losses.sum() / (num_positive + EPS)
        return self.loss_weight * loss.to(features.dtype)
