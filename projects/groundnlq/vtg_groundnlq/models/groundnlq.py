"""GroundNLQ (Hou et al., "GroundNLQ @ Ego4D Natural Language Queries
Challenge 2023", arXiv 2306.15255) as an MMEngine model.

Port of ``PtTransformer`` ('LocPointTransformer') of
github.com/houzhijian/GroundNLQ, with two departures that leave outputs
unchanged: clips are padded to their own length rounded up to the pyramid's
total stride instead of to ``max_seq_len`` (set ``pad_to_max_len=True`` for
the official padding), and the EMA positive-count normalizer is a buffer so
that checkpoints carry it.

Data contract (one sample; collated into lists by ``pseudo_collate``):

- ``inputs = dict(video=Tensor[T, input_vid_dim], query=Tensor[L,
  input_txt_dim])``;
- ``data_sample`` (a ``BaseDataElement`` or dict) with ``qid``, ``vid``,
  ``duration`` (seconds) and optionally ``fps``, ``feat_stride``,
  ``feat_num_frames`` (defaults: ``time_cfg``); for ``loss`` also
  ``gt_windows`` ``[N, 2]`` in seconds (and optionally ``gt_labels [N]``).

``predict`` returns the samples with ``pred_relevant_windows``
``Tensor[K, 3]`` rows ``(start_s, end_s, score)``, best first. Inference
(prediction, decoding and the inference API's extension points) is in
:mod:`.inference`.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from vtg_plugins.registry import MODELS
from vtg_plugins.utils.config_keys import refuse_unknown_keys
from .backbone import ConvTransformerBackbone, IdentityNeck
from .heads import ClsHead, RegHead
from .inference import GroundNLQInference, sample_get
from .postprocess import seconds_to_grid
from .targets import assign_single, ctr_diou_loss_1d, make_points, \
    sigmoid_focal_loss

DEFAULT_TRAIN_CFG = dict(
    center_sample='radius',
    center_sample_radius=1.5,
    loss_weight=1.0,
    cls_prior_prob=0.01,
    init_loss_norm=200,
    head_empty_cls=(),
    dropout=0.0,
    droppath=0.1,
    label_smoothing=0.1)
DEFAULT_TEST_CFG = dict(
    pre_nms_thresh=0.001,
    pre_nms_topk=2000,
    iou_threshold=0.1,
    min_score=0.001,
    max_seg_num=5,
    nms_method='soft',
    nms_sigma=0.75,
    duration_thresh=0.001,
    multiclass_nms=True,
    voting_thresh=0.9,
    half_frame_offset=True)
NMS_METHODS = ('soft', 'hard', 'none')
DEFAULT_TIME_CFG = dict(fps=30.0, feat_stride=16.043, feat_num_frames=16.043)
DEFAULT_RANGES = ((0, 4), (2, 8), (4, 16), (8, 32), (16, 64), (32, 128),
                  (64, 10000))


def _merge(name: str, defaults: dict, cfg: Optional[dict]) -> dict:
    """``defaults`` updated by ``cfg``; an unknown key raises ValueError
    naming it, the closest and the valid keys."""
    cfg = dict(cfg or {})
    refuse_unknown_keys(name, cfg, defaults)
    merged = {**defaults, **cfg}
    if name == 'test_cfg' and merged['nms_method'] not in NMS_METHODS:
        raise ValueError(f'test_cfg.nms_method must be one of {NMS_METHODS},'
                         f' got {merged["nms_method"]!r}')
    return merged


@MODELS.register_module()
class GroundNLQ(GroundNLQInference, BaseModel):
    """GroundNLQ / GroundNLQ* single-stage grounding model.

    Args:
        input_vid_dim, input_txt_dim (int): feature sizes.
        embd_dim (int): backbone / pyramid / head width (the official
            ``embd_dim == fpn_dim == head_dim``).
        backbone_arch (Sequence[int]): see :class:`ConvTransformerBackbone`;
            ``(2, 4, 4, 0, 6)`` GroundNLQ, ``(2, 4, 4, 6, 0)`` GroundNLQ*.
        scale_factor (int): stride between levels.
        n_head (int): attention heads.
        n_mha_win_size (int | Sequence[int]): local window (per level).
        embd_kernel_size (int): video embedding kernel.
        embd_with_ln, fpn_with_ln, head_with_ln (bool): LayerNorms.
        head_kernel_size, head_num_layers (int): head convs.
        use_abs_pe (bool): sinusoid position embedding.
        max_seq_len (int): position-table length; the training length limit.
        regression_range (Sequence): per-level ``(min, max)`` in grid units.
        num_classes (int): 1 for NLQ.
        train_cfg, test_cfg (dict): official ``train_cfg`` / ``test_cfg``
            keys (see ``DEFAULT_*``); ``test_cfg.half_frame_offset`` keeps
            the official +half-window shift when converting to seconds.
        time_cfg (dict): default ``fps`` / ``feat_stride`` /
            ``feat_num_frames`` when a sample does not give them.
        pad_to_max_len (bool): pad every batch to ``max_seq_len`` like the
            official code (same outputs, slower).
    """

    def __init__(self,
                 input_vid_dim: int = 2304,
                 input_txt_dim: int = 512,
                 embd_dim: int = 384,
                 backbone_arch: Sequence[int] = (2, 4, 4, 0, 6),
                 scale_factor: int = 2,
                 n_head: int = 4,
                 n_mha_win_size: Union[int, Sequence[int]] = 9,
                 embd_kernel_size: int = 3,
                 embd_with_ln: bool = True,
                 fpn_with_ln: bool = True,
                 head_kernel_size: int = 3,
                 head_num_layers: int = 3,
                 head_with_ln: bool = True,
                 use_abs_pe: bool = True,
                 max_seq_len: int = 2560,
                 regression_range: Sequence = DEFAULT_RANGES,
                 num_classes: int = 1,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 time_cfg: Optional[dict] = None,
                 pad_to_max_len: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.train_cfg = _merge('train_cfg', DEFAULT_TRAIN_CFG, train_cfg)
        self.test_cfg = _merge('test_cfg', DEFAULT_TEST_CFG, test_cfg)
        self.time_cfg = _merge('time_cfg', DEFAULT_TIME_CFG, time_cfg)
        n_levels = 1 + backbone_arch[3] + backbone_arch[4]
        if len(regression_range) != n_levels:
            raise ValueError(f'{n_levels} pyramid levels need as many '
                             f'regression ranges, got {regression_range}')
        if isinstance(n_mha_win_size, int):
            n_mha_win_size = [n_mha_win_size] * n_levels
        self.strides = [scale_factor**i for i in range(n_levels)]
        self.reg_range = [tuple(r) for r in regression_range]
        self.length_divisor = self.strides[-1]
        self.max_seq_len = max_seq_len
        self.num_classes = num_classes
        self.pad_to_max_len = pad_to_max_len
        self.backbone = ConvTransformerBackbone(
            input_vid_dim,
            input_txt_dim,
            embd_dim,
            n_head,
            embd_kernel_size,
            max_seq_len,
            arch=backbone_arch,
            mha_win_size=n_mha_win_size,
            scale_factor=scale_factor,
            with_ln=embd_with_ln,
            proj_pdrop=self.train_cfg['dropout'],
            path_pdrop=self.train_cfg['droppath'],
            use_abs_pe=use_abs_pe)
        self.neck = IdentityNeck(n_levels, embd_dim) if fpn_with_ln else None
        self.cls_head = ClsHead(
            embd_dim,
            embd_dim,
            num_classes,
            prior_prob=self.train_cfg['cls_prior_prob'],
            num_layers=head_num_layers,
            kernel_size=head_kernel_size,
            with_ln=head_with_ln,
            empty_cls=tuple(self.train_cfg['head_empty_cls']))
        self.reg_head = RegHead(
            embd_dim,
            embd_dim,
            n_levels,
            num_layers=head_num_layers,
            kernel_size=head_kernel_size,
            with_ln=head_with_ln)
        # EMA of the positive count (official: a Python float, momentum 0.9)
        self.register_buffer(
            'loss_normalizer',
            torch.tensor(
                float(self.train_cfg['init_loss_norm']), dtype=torch.float64))
        self.loss_normalizer_momentum = 0.9

    @classmethod
    def validate_args(cls, args: dict) -> None:
        """Check a config's arguments before building (the config lint's
        extension point): unknown ``train_cfg`` / ``test_cfg`` /
        ``time_cfg`` keys raise ValueError."""
        _merge('train_cfg', DEFAULT_TRAIN_CFG, args.get('train_cfg'))
        _merge('test_cfg', DEFAULT_TEST_CFG, args.get('test_cfg'))
        _merge('time_cfg', DEFAULT_TIME_CFG, args.get('time_cfg'))

    # ------------------------------------------------------------------
    # batching
    def padded_length(self, length: int) -> int:
        """Length a clip of ``length`` features is padded to.

        At real length (``pad_to_max_len=False``) the clip is rounded up to
        the length divisor and, below ``max_seq_len``, one divisor more: the
        official padding to ``max_seq_len`` leaves padded steps at every
        pyramid level, which hold LayerNorm biases (not zeros) that the
        masked convolutions read at the clip's end, so every level needs at
        least one padded step for the outputs to match.
        """
        div = self.length_divisor
        rounded = max(1, math.ceil(length / div)) * div
        if self.pad_to_max_len:
            return max(rounded, self.max_seq_len)
        return rounded + div if rounded < self.max_seq_len else rounded

    def _pad(self,
             feats: List[Tensor],
             dim: int,
             name: str,
             samples: Sequence,
             video: bool,
             min_length: int = 0) -> Dict[str, Tensor]:
        for f, s in zip(feats, samples):
            if f.dim() != 2 or f.shape[1] != dim or f.shape[0] == 0:
                raise ValueError(
                    f'{name} features of qid={sample_get(s, "qid")!r} '
                    f'vid={sample_get(s, "vid")!r} must be [T>0, {dim}], got '
                    f'{tuple(f.shape)}')
        lens = torch.tensor([f.shape[0] for f in feats])
        if video:
            if self.training and int(lens.max()) > self.max_seq_len:
                b = int(lens.argmax())
                raise ValueError(
                    f'clip vid={sample_get(samples[b], "vid")!r} has '
                    f'{int(lens[b])} features > max_seq_len='
                    f'{self.max_seq_len} (training)')
            padded = torch.tensor([self.padded_length(int(n)) for n in lens])
        else:
            padded = lens
        total = max(int(padded.max()), min_length)
        # model dtype and device (stores may hold float16 features)
        out = self.loss_normalizer.new_zeros(
            len(feats),
            dim,
            total,
            dtype=self.backbone.vid_embd[0].conv.weight.dtype)
        for b, f in enumerate(feats):
            out[b, :, :f.shape[0]] = f.T
        mask = torch.arange(total)[None] < lens[:, None]
        return dict(
            feats=out,
            mask=mask[:, None].to(out.device),
            padded=padded.to(out.device))

    # ------------------------------------------------------------------
    def forward_features(self,
                         inputs: dict,
                         data_samples: Sequence,
                         query_length: int = 0) -> Dict[str, list]:
        """Backbone, neck and heads.

        Args:
            query_length (int): pad the queries to at least this many
                tokens (:meth:`predict` pads a group of clips to the longest
                query of the whole batch, as the official batched eval
                does: the text convolutions read the padded steps, which
                hold LayerNorm biases once trained).

        Returns:
            dict: per level lists ``feats`` / ``fpn_feats`` ``[B, C, T_l]``,
            ``masks`` ``[B, T_l]`` bool, ``points`` ``[T_l, 4]``,
            ``cls_logits`` ``[B, T_l, C]``, ``offsets`` ``[B, T_l, 2]``.
        """
        vid = self._pad(
            list(inputs['video']), self.backbone.vid_embd[0].conv.in_channels,
            'video', data_samples, True)
        txt = self._pad(
            list(inputs['query']), self.backbone.txt_embd[0].conv.in_channels,
            'query', data_samples, False, query_length)
        feats, masks = self.backbone(vid['feats'], vid['mask'], txt['feats'],
                                     txt['mask'], vid['padded'])
        fpn_feats = self.neck(feats) if self.neck is not None else feats
        points = make_points([f.shape[-1] for f in fpn_feats], self.strides,
                             self.reg_range, fpn_feats[0].device)
        return dict(
            feats=feats,
            fpn_feats=fpn_feats,
            masks=[m[:, 0] for m in masks],
            points=points,
            cls_logits=self.cls_head(fpn_feats, masks),
            offsets=self.reg_head(fpn_feats, masks))

    def forward(self,
                inputs: dict,
                data_samples: Optional[Sequence] = None,
                mode: str = 'tensor'):
        if data_samples is None:
            data_samples = [{} for _ in inputs['video']]
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        out = self.forward_features(inputs, data_samples)
        if mode == 'tensor':
            return out
        if mode == 'loss':
            gt_cls, gt_reg = self.get_targets(out['points'], data_samples)
            return self.loss_by_feat(out['masks'], out['cls_logits'],
                                     out['offsets'], gt_cls, gt_reg)
        raise ValueError(f'mode must be loss, predict or tensor, got {mode}')

    # ------------------------------------------------------------------
    def get_targets(self, points: List[Tensor], data_samples: Sequence):
        """Per clip ``[P, C]`` class and ``[P, 2]`` offset targets (float64)
        from ``gt_windows`` in seconds."""
        concat = torch.cat(points)
        gt_cls, gt_reg = [], []
        for s in data_samples:
            windows = sample_get(s, 'gt_windows')
            if windows is None:
                raise ValueError(f'qid={sample_get(s, "qid")!r} has no '
                                 f'gt_windows (needed for the loss)')
            windows = torch.as_tensor(windows).reshape(-1, 2)
            segs = seconds_to_grid(windows, self._time(s, 'fps'),
                                   self._time(s, 'feat_stride'))
            labels = sample_get(s, 'gt_labels')
            labels = torch.zeros(len(segs), dtype=torch.long) \
                if labels is None else torch.as_tensor(labels).long()
            onehot = F.one_hot(labels, self.num_classes)
            cls_t, reg_t = assign_single(
                concat, segs.to(concat.device), onehot.to(concat.device),
                self.train_cfg['center_sample'],
                self.train_cfg['center_sample_radius'])
            gt_cls.append(cls_t)
            gt_reg.append(reg_t)
        return gt_cls, gt_reg

    def loss_by_feat(self, masks: List[Tensor], cls_logits: List[Tensor],
                     offsets: List[Tensor], gt_cls: List[Tensor],
                     gt_reg: List[Tensor]) -> Dict[str, Tensor]:
        """Focal + DIoU losses; updates the ``loss_normalizer`` EMA first.

        Returns ``loss_cls`` and ``loss_reg`` (already multiplied by the
        regression weight), whose sum is the official ``final_loss``.
        """
        valid = torch.cat(masks, dim=1)
        gt_cls = torch.stack(gt_cls)
        pos = (gt_cls.sum(-1) > 0) & valid
        num_pos = int(pos.sum())
        m = self.loss_normalizer_momentum
        self.loss_normalizer.fill_(m * float(self.loss_normalizer) +
                                   (1 - m) * max(num_pos, 1))
        norm = float(self.loss_normalizer)
        target = gt_cls[valid]
        smooth = self.train_cfg['label_smoothing']
        target = target * (1 - smooth) + smooth / (target.shape[-1] + 1)
        loss_cls = sigmoid_focal_loss(
            torch.cat(cls_logits, dim=1)[valid], target) / norm
        pred_off = torch.cat(offsets, dim=1)[pos]
        if num_pos == 0:
            loss_reg = 0 * pred_off.sum()
        else:
            loss_reg = ctr_diou_loss_1d(pred_off,
                                        torch.stack(gt_reg)[pos]) / norm
        weight = self.train_cfg['loss_weight']
        if weight <= 0:
            weight = loss_cls.detach() / max(loss_reg.item(), 0.01)
        return dict(loss_cls=loss_cls, loss_reg=loss_reg * weight)
