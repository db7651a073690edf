"""TSTL heads on MMAction2's ``BaseHead``: the fused ``bidir`` head and the
two-head ``compo`` head (EPIC-Kitchens-100 noun / verb).

Both take the backbone's ``(clip_feat [N, D], videomae_feat [N, D])`` and
accept hard labels (``[1]`` / int per sample) or soft ones (``[C]`` per
sample, after mixup / cutmix); ``label_smooth_eps`` is applied after
mixing, as ``BaseHead`` does. ``feature_loss`` (a ``MODELS`` config called
``feature_loss(features [N, D], labels [N] long)``, e.g. TSTL's
batch-all triplet loss) is reported as ``loss_feature``; soft labels give it
their arg-max class.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.evaluation import top_k_accuracy
from mmaction.models.heads import BaseHead
from torch import Tensor

from vtg_plugins.registry import MODELS
from .adapters import Adapter

__all__ = ['TSTLFusedHead', 'TSTLCompoHead', 'stack_labels']

Feats = Tuple[Tensor, Tensor]


def stack_labels(data_samples: Sequence, field: str,
                 num_classes: int) -> Tensor:
    """The batch's ``field`` labels: ``[N]`` long (hard) or ``[N, C]``
    float (soft).

    Raises:
        ValueError: a sample without the field, a class outside
            ``[0, num_classes)``, a soft label of another width, or hard and
            soft labels in one batch.
    """
    rows = []
    for i, sample in enumerate(data_samples):
        if field not in sample:
            raise ValueError(f'data sample {i} has no {field!r}')
        value = torch.as_tensor(getattr(sample, field))
        if value.is_floating_point() and value.numel() > 1:
            if value.shape != (num_classes, ):
                raise ValueError(f'data sample {i}: soft {field} of shape '
                                 f'{list(value.shape)}, expected '
                                 f'[{num_classes}]')
        elif value.numel() == 1:
            value = value.reshape(()).long()
            if not 0 <= int(value) < num_classes:
                raise ValueError(f'data sample {i}: {field} {int(value)} '
                                 f'is outside [0, {num_classes})')
        else:
            raise ValueError(f'data sample {i}: {field} of shape '
                             f'{list(value.shape)} is neither a class nor '
                             f'{num_classes} soft scores')
        rows.append(value)
    if len({r.dim() for r in rows}) > 1:
        raise ValueError(f'{field}: hard and soft labels in one batch')
    return torch.stack(rows)


def hard_labels(labels: Tensor) -> Tensor:
    """``[N]`` classes of hard ``[N]`` or soft ``[N, C]`` labels."""
    return labels.argmax(dim=-1) if labels.dim() == 2 else labels


class _TSTLHead(BaseHead):
    """What both heads share: the classification loss of one task, the
    feature loss and the official init of a linear classifier."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: dict,
                 dropout_ratio: float, feature_loss: Optional[dict],
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, loss_cls, **kwargs)
        self.dropout = nn.Dropout(dropout_ratio)
        self.feature_loss = (
            MODELS.build(feature_loss) if feature_loss is not None else None)

    def average_clip(self, cls_scores: Tensor, num_segs: int = 1) -> Tensor:
        """``BaseHead.average_clip`` of ``[N * num_segs, C]`` scores in
        float32: under bf16 (DeepSpeed, autocast) the view softmax stays
        exact and the metrics get scores numpy can read."""
        return super().average_clip(cls_scores.float(), num_segs)

    @staticmethod
    def _init_linear(fc: nn.Linear, std: float, scale: float) -> None:
        """Trunc-normal ``std``, zero bias, both times ``scale`` (the
        official ``init_scale``)."""
        nn.init.trunc_normal_(fc.weight, std=std)
        nn.init.zeros_(fc.bias)
        fc.weight.data.mul_(scale)

    def _task_losses(self, scores: Tensor, labels: Tensor, num_classes: int,
                     loss_name: str, acc_prefix: str) -> Dict[str, Tensor]:
        """Top-k accuracy (hard labels only) and the smoothed loss."""
        losses = {}
        if labels.dim() == 1:
            accs = top_k_accuracy(scores.detach().float().cpu().numpy(),
                                  labels.cpu().numpy(), self.topk)
            for k, acc in zip(self.topk, accs):
                losses[f'{acc_prefix}top{k}_acc'] = torch.tensor(
                    acc, device=scores.device)
        labels = labels.to(scores.device)
        if self.label_smooth_eps != 0:
            if labels.dim() == 1:
                labels = F.one_hot(labels, num_classes)
            labels = ((1 - self.label_smooth_eps) * labels +
                      self.label_smooth_eps / num_classes)
        losses[loss_name] = self.loss_cls(scores, labels)
        return losses


@MODELS.register_module()
class TSTLFusedHead(_TSTLHead):
    """The ``bidir`` head: ``fc_cls(noun_last_adapter(clip_feat) +
    verb_last_adapter(videomae_feat))`` (both adapters without skip).

    Args:
        num_classes (int): classes.
        in_channels (int): feature width ``D``. Default 768.
        loss_cls (dict): classification loss. Default cross-entropy.
        adapter_ratio (float): adapter bottleneck over ``D``. Default 0.25.
        dropout_ratio (float): dropout before ``fc_cls`` (the official
            ``head_drop_rate``). Default 0.
        init_scale (float): ``fc_cls`` init scale. Default 1 (TSTL; CAST's
            scripts use 0.001).
        init_std (float): trunc-normal std of the linear layers.
        feature_loss (dict, optional): loss on the fused features.
        **kwargs: ``BaseHead`` arguments (``label_smooth_eps``,
            ``average_clips``, ``topk``, ``init_cfg``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int = 768,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 adapter_ratio: float = 0.25,
                 dropout_ratio: float = 0.0,
                 init_scale: float = 1.0,
                 init_std: float = 0.02,
                 feature_loss: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, loss_cls, dropout_ratio,
                         feature_loss, **kwargs)
        self.noun_last_adapter = Adapter(
            in_channels, adapter_ratio, skip_connect=False)
        self.verb_last_adapter = Adapter(
            in_channels, adapter_ratio, skip_connect=False)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        for adapter in (self.noun_last_adapter, self.verb_last_adapter):
            self._init_linear(adapter.D_fc1, init_std, 1.0)
            adapter.zero_init_last()
        self._init_linear(self.fc_cls, init_std, init_scale)

    def fuse(self, feats: Feats) -> Tensor:
        """``(clip_feat, videomae_feat)`` -> fused features ``[N, D]``."""
        clip_feat, videomae_feat = feats
        return (self.noun_last_adapter(clip_feat) +
                self.verb_last_adapter(videomae_feat))

    def forward(self, x: Feats, **kwargs) -> Tensor:
        """Class scores ``[N, num_classes]``."""
        return self.fc_cls(self.dropout(self.fuse(x)))

    def loss(self, feats: Feats, data_samples: List, **kwargs) -> dict:
        """``loss_cls``, ``top{k}_acc`` and, with a feature loss,
        ``loss_feature``."""
        fused = self.fuse(feats)
        losses = self.loss_by_feat(
            self.fc_cls(self.dropout(fused)), data_samples)
        if self.feature_loss is not None:
            labels = stack_labels(data_samples, 'gt_label', self.num_classes)
            losses['loss_feature'] = self.feature_loss(
                fused,
                hard_labels(labels).to(fused.device))
        return losses

    def loss_by_feat(self, cls_scores: Tensor, data_samples: List) -> dict:
        """Loss of scores ``[N, C]`` against the samples' ``gt_label``."""
        labels = stack_labels(data_samples, 'gt_label', self.num_classes)
        return self._task_losses(cls_scores, labels, self.num_classes,
                                 'loss_cls', '')


@MODELS.register_module()
class TSTLCompoHead(_TSTLHead):
    """The ``compo`` head: nouns from the CLIP feature, verbs from the
    VideoMAE feature; loss ``CE(noun) + CE(verb)`` (reported as
    ``loss_noun`` and ``loss_verb``), as CAST trains EPIC-Kitchens-100.

    Reads ``noun_label`` / ``verb_label`` of each data sample and predicts
    ``pred_noun_score [num_noun_classes]`` / ``pred_verb_score
    [num_verb_classes]`` (views averaged as ``average_clips`` says).
    ``num_classes`` of ``BaseHead`` is the sum of both.

    Args:
        in_channels (int): feature width ``D``. Default 768.
        num_noun_classes (int): Default 300.
        num_verb_classes (int): Default 97.
        loss_cls (dict): loss of each task. Default cross-entropy.
        dropout_ratio (float): dropout before each classifier.
        init_scale (float): classifier init scale. Default 1.
        init_std (float): trunc-normal std of the classifiers.
        feature_loss (dict, optional): applied to ``clip_feat`` with the
            noun labels and to ``videomae_feat`` with the verb labels,
            summed into ``loss_feature``.
        **kwargs: ``BaseHead`` arguments.
    """

    def __init__(self,
                 in_channels: int = 768,
                 num_noun_classes: int = 300,
                 num_verb_classes: int = 97,
                 loss_cls: dict = dict(type='CrossEntropyLoss'),
                 dropout_ratio: float = 0.0,
                 init_scale: float = 1.0,
                 init_std: float = 0.02,
                 feature_loss: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(num_noun_classes + num_verb_classes, in_channels,
                         loss_cls, dropout_ratio, feature_loss, **kwargs)
        self.num_noun_classes = num_noun_classes
        self.num_verb_classes = num_verb_classes
        self.fc_noun = nn.Linear(in_channels, num_noun_classes)
        self.fc_verb = nn.Linear(in_channels, num_verb_classes)
        for fc in (self.fc_noun, self.fc_verb):
            self._init_linear(fc, init_std, init_scale)

    def forward(self, x: Feats, **kwargs) -> Tuple[Tensor, Tensor]:
        """``(noun scores [N, 300], verb scores [N, 97])``."""
        clip_feat, videomae_feat = x
        return (self.fc_noun(self.dropout(clip_feat)),
                self.fc_verb(self.dropout(videomae_feat)))

    def _labels(self, data_samples: List) -> Tuple[Tensor, Tensor]:
        return (stack_labels(data_samples, 'noun_label',
                             self.num_noun_classes),
                stack_labels(data_samples, 'verb_label',
                             self.num_verb_classes))

    def loss(self, feats: Feats, data_samples: List, **kwargs) -> dict:
        """``loss_noun``, ``loss_verb``, ``{noun,verb}_top{k}_acc`` and,
        with a feature loss, ``loss_feature``."""
        losses = self.loss_by_feat(self(feats), data_samples)
        if self.feature_loss is not None:
            nouns, verbs = self._labels(data_samples)
            device = feats[0].device
            losses['loss_feature'] = (
                self.feature_loss(feats[0],
                                  hard_labels(nouns).to(device)) +
                self.feature_loss(feats[1],
                                  hard_labels(verbs).to(device)))
        return losses

    def loss_by_feat(self, cls_scores: Tuple[Tensor, Tensor],
                     data_samples: List) -> dict:
        """Losses of ``(noun [N, 300], verb [N, 97])`` scores."""
        nouns, verbs = self._labels(data_samples)
        noun_scores, verb_scores = cls_scores
        losses = self._task_losses(noun_scores, nouns, self.num_noun_classes,
                                   'loss_noun', 'noun_')
        losses.update(
            self._task_losses(verb_scores, verbs, self.num_verb_classes,
                              'loss_verb', 'verb_'))
        return losses

    def predict_by_feat(self, cls_scores: Tuple[Tensor, Tensor],
                        data_samples: List) -> List:
        """Average the views of each task (``[N*V, C] -> [N, C]``) and set
        ``pred_noun_score`` / ``pred_verb_score``."""
        noun_scores, verb_scores = cls_scores
        num_views = noun_scores.shape[0] // len(data_samples)
        noun_scores = self.average_clip(noun_scores, num_segs=num_views)
        verb_scores = self.average_clip(verb_scores, num_segs=num_views)
        for sample, noun, verb in zip(data_samples, noun_scores, verb_scores):
            sample.set_field(noun, 'pred_noun_score')
            sample.set_field(verb, 'pred_verb_score')
        return data_samples
