"""TSTL's second-stage inference: the selector routes each clip to expert
recognizers, which give the class scores.

Follows ``engine_for_onemodel.py`` of the official code:

- ``predict_with_topk_experts_batch`` (``vote='max_logit'``): the selector's
  top-k groups (the official k is 1), each of those experts' logits over all
  classes, the element-wise maximum over the k experts;
- ``predict_with_weighted_topk_experts_batch`` (``vote='weighted'``, the
  official k is 5): each chosen expert's logits times the selector's softmax
  probability of its group, then the element-wise maximum;
- ``merge`` / ``compute_video``: the softmax of each view's routed logits,
  averaged over the views of a video.

Every expert predicts all classes (the official experts have
``num_classes=nb_classes``), so a clip can be given a class outside its
routed group.
"""
import os
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint

from vtg_plugins.registry import MODELS
from ..grouping import ClassGrouping, load_class_grouping

VOTES = ('max_logit', 'weighted')


def _expert_paths(spec: Union[str, Sequence[str]],
                  num_experts: int) -> List[str]:
    """A list of paths, or a pattern with ``{}`` (or ``{i}``) formatted
    with ``0..num_experts-1`` (the official files are ``expert-{i}.pth``)."""
    if isinstance(spec, (str, os.PathLike)):
        spec = os.fspath(spec)
        if '{' not in spec:
            raise ValueError(
                f'expert_checkpoints={spec!r}: a single path is not a '
                "pattern; use e.g. 'work_dirs/expert-{}.pth' or a list")
        return [spec.format(i, i=i) for i in range(num_experts)]
    return [os.fspath(p) for p in spec]


def _check_files(named: Sequence[Tuple[str, str]]) -> None:
    missing = [
        f'{what} {path}' for what, path in named
        if '://' not in path and not os.path.isfile(path)
    ]
    if missing:
        raise FileNotFoundError('TSTLRoutedRecognizer: checkpoint file(s) '
                                'not found: ' + '; '.join(missing))


def _head_classes(model: nn.Module) -> Optional[int]:
    return getattr(getattr(model, 'cls_head', None), 'num_classes', None)


@MODELS.register_module()
class TSTLRoutedRecognizer(BaseModel):
    """Selector + one expert per class group, for testing only.

    Args:
        selector: a recognizer config (e.g. ``Recognizer3D`` with
            ``TSTLBackbone`` / ``TSTLFusedHead``) whose head predicts the
            ``G`` groups.
        experts: one recognizer config, built ``G`` times; each head predicts
            all classes.
        selector_checkpoint: the selector's checkpoint.
        expert_checkpoints: ``G`` paths, or a pattern like
            ``'work_dirs/expert-{}.pth'`` formatted with ``0..G-1``.
        grouping: TSTL's ``class_grouping.json`` (or a
            :class:`ClassGrouping`); gives ``G`` and the number of classes
            the experts must predict.
        num_experts: ``G`` when there is no grouping (it must agree with
            the grouping and the checkpoint list when those are given).
        top_k: experts per clip (official: 1 for ``max_logit``, 5 for
            ``weighted``).
        vote: ``'max_logit'`` or ``'weighted'`` (see the module docstring).
        data_preprocessor: normalises the inputs once, for the selector and
            every expert (the sub-models' own preprocessors are not used);
            default ``ActionDataPreprocessor()``.

    Checkpoints are loaded when the model is built (MMEngine's
    ``load_checkpoint``, strict), so ``Runner.test()`` works without
    ``load_from``; a missing file is an error naming it. :meth:`init_weights`
    leaves the loaded weights alone.

    ``predict`` sets per sample: ``pred_score`` ``[C]`` (view-averaged
    softmax of the routed logits, for ``AccMetric``), ``pred_label``,
    ``pred_group`` ``[V]`` (the selector's top-1 group of each view) and
    ``pred_group_score`` ``[G]`` (view-averaged selector softmax).
    """

    def __init__(self,
                 selector: dict,
                 experts: dict,
                 selector_checkpoint: str,
                 expert_checkpoints: Union[str, Sequence[str]],
                 grouping: Union[str, os.PathLike, ClassGrouping, None] = None,
                 num_experts: Optional[int] = None,
                 top_k: int = 1,
                 vote: str = 'max_logit',
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(
                type='ActionDataPreprocessor'))
        if vote not in VOTES:
            raise ValueError(f'TSTLRoutedRecognizer: vote must be one of '
                             f'{VOTES}, got {vote!r}')
        if grouping is not None and not isinstance(grouping, ClassGrouping):
            grouping = load_class_grouping(grouping)
        num_experts = self._num_experts(grouping, num_experts,
                                        expert_checkpoints)
        if not 1 <= top_k <= num_experts:
            raise ValueError(f'TSTLRoutedRecognizer: top_k must be in '
                             f'1..{num_experts} (the experts), got {top_k}')
        self.grouping = grouping
        self.top_k = top_k
        self.vote = vote
        self.selector = MODELS.build(selector)
        self.experts = nn.ModuleList(
            MODELS.build(experts) for _ in range(num_experts))
        self._check_heads(num_experts)
        paths = _expert_paths(expert_checkpoints, num_experts)
        named = [('selector', os.fspath(selector_checkpoint))]
        named += [(f'expert {i}', p) for i, p in enumerate(paths)]
        _check_files(named)
        for (what, path), module in zip(named, [self.selector, *self.experts]):
            print_log(
                f'TSTLRoutedRecognizer: {what} <- {path}', logger='current')
            load_checkpoint(
                module,
                path,
                map_location='cpu',
                strict=True,
                logger='current')

    @staticmethod
    def _num_experts(grouping: Optional[ClassGrouping],
                     num_experts: Optional[int],
                     expert_checkpoints: Union[str, Sequence[str]]) -> int:
        counts = {}
        if grouping is not None:
            counts[f'the grouping {grouping.source}'] = grouping.num_groups
        if num_experts is not None:
            counts['num_experts'] = int(num_experts)
        if not isinstance(expert_checkpoints, (str, os.PathLike)):
            counts['expert_checkpoints'] = len(expert_checkpoints)
        if not counts:
            raise ValueError('TSTLRoutedRecognizer: give `grouping`, '
                             '`num_experts` or a list of expert_checkpoints')
        if len(set(counts.values())) > 1:
            raise ValueError(
                'TSTLRoutedRecognizer: the expert counts disagree: ' +
                ', '.join(f'{k}: {v}' for k, v in counts.items()))
        return next(iter(counts.values()))

    def _check_heads(self, num_experts: int) -> None:
        sel = _head_classes(self.selector)
        if sel is not None and sel != num_experts:
            raise ValueError(
                f'TSTLRoutedRecognizer: the selector head predicts {sel} '
                f'groups, there are {num_experts} experts')
        exp = _head_classes(self.experts[0])
        if self.grouping is not None and exp is not None and \
                exp != self.grouping.num_classes:
            raise ValueError(
                f'TSTLRoutedRecognizer: the expert head predicts {exp} '
                f'classes, the grouping {self.grouping.source} has '
                f'{self.grouping.num_classes}')

    def init_weights(self) -> None:
        """Nothing to initialise: the selector and experts were loaded from
        their checkpoints at build, and the sub-models' ``init_cfg`` must
        not overwrite them."""

    @staticmethod
    def _logits(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
        """``[M, C, T, H, W]`` normalised clips -> ``[M, classes]`` raw
        logits of one sub-recognizer (its backbone, neck and head; its
        ``test_cfg.max_testing_views`` chunks the clips)."""
        feats, kwargs = model.extract_feat(clips[None], test_mode=True)
        return model.cls_head(feats, **kwargs)

    def route(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Route every view.

        Args:
            inputs: ``[N, V, C, T, H, W]`` normalised clips.

        Returns:
            ``(routed [N, V, num_classes], selector [N, V, G])`` logits.
        """
        if inputs.dim() != 6:
            raise ValueError('TSTLRoutedRecognizer expects inputs [N, V, C, '
                             f'T, H, W], got {list(inputs.shape)}')
        n, v = inputs.shape[:2]
        clips = inputs.flatten(0, 1)
        sel = self._logits(self.selector, clips)  # [M, G]
        top = sel.topk(self.top_k, dim=1).indices  # [M, K]
        chosen: Optional[torch.Tensor] = None  # [M, K, classes]
        for g in top.unique().tolist():
            rows, slots = (top == g).nonzero(as_tuple=True)
            out = self._logits(self.experts[g], clips[rows])
            if chosen is None:
                chosen = out.new_zeros(top.shape + out.shape[1:])
            chosen[rows, slots] = out
        if self.vote == 'weighted':
            weights = sel.softmax(dim=1).gather(1, top)
            chosen = chosen * weights[..., None].to(chosen.dtype)
        routed = chosen.max(dim=1).values
        return routed.view(n, v, -1), sel.view(n, v, -1)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``'predict'``: the data samples with the fields of the class
        docstring; ``'tensor'``: :meth:`route`'s logits; ``'loss'`` is
        refused (train the selector and the experts as recognizers)."""
        if mode == 'loss':
            raise NotImplementedError(
                'TSTLRoutedRecognizer is for testing only: train the '
                "selector (GroupLabelDataset role='selector') and each "
                "expert (role='expert', group=g) as Recognizer3D models")
        routed, sel = self.route(inputs)
        if mode == 'tensor':
            return routed, sel
        if mode != 'predict':
            raise ValueError(f'TSTLRoutedRecognizer: unknown mode {mode!r}')
        scores = routed.softmax(dim=-1).mean(dim=1)
        group_scores = sel.softmax(dim=-1).mean(dim=1)
        groups = sel.argmax(dim=-1)
        for sample, score, gscore, group in zip(data_samples, scores,
                                                group_scores, groups):
            sample.set_pred_score(score)
            sample.set_pred_label(score.argmax(dim=-1, keepdim=True))
            sample.set_field(group, 'pred_group')
            sample.set_field(gscore, 'pred_group_score')
        return data_samples
