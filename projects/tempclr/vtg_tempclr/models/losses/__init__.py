"""TempCLR's training losses, registered in ``MODELS``.

- :class:`SymmetricContrastiveLoss` (:mod:`.contrastive`): VideoCLIP's
  in-batch contrastive loss (official ``MMContraLoss``).
- :class:`TemporalAlignmentLoss` (:mod:`.temporal_alignment`):
  sentence-order contrast of HowTo100M pretraining (official
  ``AlignRetriTask.temporal_alignment``).
- :class:`StepAlignmentLoss` (:mod:`.step_alignment`): step-order contrast
  of CrossTask fine-tuning (official ``AlignLocalTask.query_to_logits`` +
  cross-entropy).

The alignment losses compute the distances and the soft-min alignment in
``promote_types(dtype, float32)`` (see :mod:`..alignment`): half-precision
features give a float32 loss, float64 stays float64.
"""
from .contrastive import SymmetricContrastiveLoss
from .step_alignment import StepAlignmentLoss, sample_step_negatives
from .temporal_alignment import (PermutationSource, TemporalAlignmentLoss,
                                 non_overlapping_clips, shuffled_permutations)
from .utils import linspace_positions

__all__ = [
    'PermutationSource', 'StepAlignmentLoss', 'SymmetricContrastiveLoss',
    'TemporalAlignmentLoss', 'linspace_positions', 'non_overlapping_clips',
    'sample_step_negatives', 'shuffled_permutations'
]
