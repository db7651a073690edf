"""Mixup / CutMix over a mini-batch as TSTL applies it.

TSTL (``util_tools/mixup.py``, timm's ``Mixup`` with a noun/verb variant)
in its ``'batch'`` mode, which is the only mode its scripts use:

- with probability ``prob`` the batch is mixed, else ``lam = 1``;
- CutMix instead of Mixup with probability ``switch_prob`` (when both
  alphas are positive); ``lam ~ Beta(alpha, alpha)``;
- every sample is paired with its mirror in the batch (``flip(0)``, not a
  random permutation);
- CutMix cuts one box over the last two dims (H, W) of every clip and
  frame, centred uniformly, side ``sqrt(1 - lam)`` of the image side, clipped
  to the image; ``correct_lam`` resets ``lam`` to the uncut area fraction;
- targets are label-smoothed one-hot vectors
  (``off = eps / K``, ``on = 1 - eps + off``) mixed with the same ``lam``:
  the heads must therefore use ``label_smooth_eps=0``.

The draws use ``np.random`` in the official order, so seeding NumPy gives
the official draws. Registered for MMAction2's
``ActionDataPreprocessor(blending=...)`` (built from ``MODELS``).
"""
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmaction.models.utils.blending_utils import BaseMiniBatchBlending

from vtg_plugins.registry import MODELS

BBox = Tuple[int, int, int, int]


def mix_targets(one_hot: torch.Tensor, lam: float,
                smoothing: float) -> torch.Tensor:
    """``[B, K]`` one-hot labels -> label-smoothed targets mixed with their
    mirror: ``lam * y + (1 - lam) * y.flip(0)``, where ``y`` is
    ``1 - eps + eps / K`` on the label and ``eps / K`` elsewhere."""
    off = smoothing / one_hot.size(-1)
    on = 1.0 - smoothing + off
    smoothed = torch.full(one_hot.shape, off, device=one_hot.device)
    smoothed[one_hot.bool()] = on
    return smoothed * lam + smoothed.flip(0) * (1.0 - lam)


def draw_cutmix_box(height: int, width: int, lam: float) -> BBox:
    """A box ``(y0, y1, x0, x1)`` for CutMix: centre uniform over the image
    (``np.random.randint``, y then x), sides ``int(side * sqrt(1 - lam))``,
    half-sides floored, clipped to the image."""
    ratio = np.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = np.random.randint(0, height)
    cx = np.random.randint(0, width)
    y0, y1 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    x0, x1 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    return int(y0), int(y1), int(x0), int(x1)


@MODELS.register_module()
class TSTLMixupCutmixBlending(BaseMiniBatchBlending):
    """Mixup or CutMix per batch with smoothed targets (official TSTL).

    Args:
        num_classes (int): classes of ``gt_label`` (ignored with
            ``composition=True``).
        mixup_alpha (float): Beta parameter of Mixup; 0 disables it.
        cutmix_alpha (float): Beta parameter of CutMix; 0 disables it.
        prob (float): probability of mixing a batch at all.
        switch_prob (float): probability of CutMix instead of Mixup when both
            are enabled.
        label_smoothing (float): smoothing folded into the targets.
        correct_lam (bool): set ``lam`` to the area left uncut after the
            CutMix box is clipped.
        composition (bool): EPIC-Kitchens-100: mix ``noun_label`` and
            ``verb_label`` (same ``lam`` and pairing) instead of ``gt_label``.
        num_nouns (int), num_verbs (int): their class counts.
    """

    def __init__(self,
                 num_classes: int,
                 mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0,
                 prob: float = 1.0,
                 switch_prob: float = 0.5,
                 label_smoothing: float = 0.1,
                 correct_lam: bool = True,
                 composition: bool = False,
                 num_nouns: int = 300,
                 num_verbs: int = 97) -> None:
        super().__init__(num_classes=num_classes)
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError('one of mixup_alpha, cutmix_alpha must be > 0')
        for key, value in (('prob', prob), ('switch_prob', switch_prob),
                           ('label_smoothing', label_smoothing)):
            if not 0 <= value <= 1:
                raise ValueError(f'{key} must be in [0, 1], got {value}')
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob
        self.label_smoothing = label_smoothing
        self.correct_lam = correct_lam
        self.composition = composition
        self.label_fields = ((('noun_label', num_nouns),
                              ('verb_label', num_verbs)) if composition else
                             (('gt_label', num_classes), ))

    def draw(self) -> Tuple[float, bool]:
        """``(lam, use_cutmix)`` for one batch, in the official draw order:
        mix?, then cutmix?, then Beta."""
        if np.random.rand() >= self.prob:
            return 1.0, False
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = bool(np.random.rand() < self.switch_prob)
        else:
            use_cutmix = self.cutmix_alpha > 0
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        return float(np.random.beta(alpha, alpha)), use_cutmix

    def mix_inputs(
            self,
            imgs: torch.Tensor) -> Tuple[torch.Tensor, float, Optional[BBox]]:
        """Mix ``imgs`` ``[B, ..., H, W]`` with ``imgs.flip(0)``.

        Returns the mixed tensor (a new one), the final ``lam`` and the
        CutMix box (``None`` for Mixup or no mixing).
        """
        if imgs.size(0) % 2:
            raise ValueError('TSTLMixupCutmixBlending needs an even batch '
                             f'size (mirror pairing), got {imgs.size(0)}')
        lam, use_cutmix = self.draw()
        if lam == 1.0:
            return imgs, 1.0, None
        if not use_cutmix:
            return imgs * lam + imgs.flip(0) * (1.0 - lam), lam, None
        height, width = imgs.shape[-2:]
        y0, y1, x0, x1 = draw_cutmix_box(height, width, lam)
        if self.correct_lam:
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
        mixed = imgs.clone()
        mixed[..., y0:y1, x0:x1] = imgs.flip(0)[..., y0:y1, x0:x1]
        return mixed, lam, (y0, y1, x0, x1)

    def do_blending(self, imgs: torch.Tensor, label: torch.Tensor,
                    **kwargs) -> Tuple[torch.Tensor, torch.Tensor]:
        """MMAction2's blending contract (used by ``RandomBatchAugment``):
        ``imgs`` and ``[B, K]`` one-hot labels -> mixed imgs and targets."""
        if kwargs:
            raise TypeError(f'unexpected arguments {sorted(kwargs)}')
        mixed, lam, _ = self.mix_inputs(imgs)
        return mixed, mix_targets(label, lam, self.label_smoothing)

    def __call__(self, imgs: torch.Tensor, batch_data_samples: List,
                 **kwargs) -> Tuple[torch.Tensor, List]:
        """Mix ``imgs`` (``[B, N, C, T, H, W]`` or ``[B, N, C, H, W]``) and
        replace each sample's hard label field(s) by its soft target."""
        labels = [
            self._hard_labels(batch_data_samples, field, classes)
            for field, classes in self.label_fields
        ]
        mixed, lam, _ = self.mix_inputs(imgs)
        for (field, classes), label in zip(self.label_fields, labels):
            one_hot = F.one_hot(label.to(imgs.device), classes)
            targets = mix_targets(one_hot, lam, self.label_smoothing)
            for sample, target in zip(batch_data_samples, targets):
                sample.set_field(target, field, dtype=torch.Tensor)
        return mixed, batch_data_samples

    @staticmethod
    def _hard_labels(samples: List, field: str,
                     num_classes: int) -> torch.Tensor:
        """``[B]`` long labels read from ``sample.<field>``; a missing field,
        a soft or multi-label value or a label outside ``[0, num_classes)``
        is an error."""
        labels = []
        for index, sample in enumerate(samples):
            if field not in sample:
                raise KeyError(f'data sample {index} has no {field}')
            value = torch.as_tensor(getattr(sample, field)).reshape(-1)
            if value.numel() != 1 or value.is_floating_point():
                raise ValueError(
                    f'data sample {index}: {field} must be one class index, '
                    f'got {tuple(value.shape)} {value.dtype}')
            label = int(value.item())
            if not 0 <= label < num_classes:
                raise ValueError(f'data sample {index}: {field} {label} is '
                                 f'outside [0, {num_classes})')
            labels.append(label)
        return torch.tensor(labels, dtype=torch.long)
