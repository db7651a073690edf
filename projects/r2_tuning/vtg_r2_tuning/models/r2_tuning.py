"""R²-Tuning on cached CLIP features as an MMEngine model.

Liu et al., "R²-Tuning: Efficient Image-to-Video Transfer Learning for Video
Temporal Grounding", ECCV 2024 (arXiv 2404.00801); official code
github.com/yeliudev/R2-Tuning (models/model.py, ``init=False`` path).
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from vtg_plugins.features.archs import CLIP_ARCHS, canonical_arch
from vtg_plugins.registry import MODELS
from vtg_plugins.utils.config_keys import refuse_unknown_keys
from .adapter import R2Block
from .heads import (AdaPooling, ConvHead, ConvPyramid, length_mask,
                    level_lengths, make_points, official_level_masks)
from .inputs import (group_by_size, pad_targets, parse_features, sample_field,
                     with_predictions)
from .losses import R2Loss
from .postprocess import merge_window_candidates, r2_postprocess


def feature_dims(arch: Union[str, dict]) -> Tuple[int, int, int]:
    """``(Cv, Cq, P)`` of a CLIP arch name or an explicit dict. (The
    official table gives ViT-L/14 50 tokens, which cannot match its own
    257-token cache; :data:`CLIP_ARCHS` has 257.)"""
    if isinstance(arch, dict):
        keys = ('video_dims', 'query_dims', 'num_tokens')
        if set(arch) != set(keys):
            raise KeyError(f'arch dict needs exactly the keys {keys}, got '
                           f'{sorted(arch)}')
        return tuple(int(arch[k]) for k in keys)
    if arch not in CLIP_ARCHS:
        raise KeyError(f'unknown CLIP arch {arch!r}; known: '
                       f'{sorted(CLIP_ARCHS)}')
    spec = CLIP_ARCHS[arch]
    return spec.visual_width, spec.text_width, spec.num_tokens


DEFAULT_TEST_CFG = dict(
    nms_cfg=dict(type='normal', thres=0.7), unit=None,
    max_batch_elements=2**24)
# the keys each NMS kind of ``test_cfg.nms_cfg`` reads besides ``type``
NMS_KEYS = dict(normal=('thres', ), linear=(), gaussian=('sigma', ))


def check_test_cfg(test_cfg: Optional[dict]) -> None:
    """Refuse ``test_cfg`` keys, and ``nms_cfg`` keys of its NMS kind, that
    the post-processing would not read (ValueError naming them)."""
    refuse_unknown_keys('test_cfg', test_cfg or {}, DEFAULT_TEST_CFG)
    nms_cfg = (test_cfg or {}).get('nms_cfg')
    if isinstance(nms_cfg, dict) and nms_cfg.get('type') in NMS_KEYS:
        refuse_unknown_keys(f"test_cfg.nms_cfg ({nms_cfg['type']} NMS)",
                            nms_cfg, ('type', ) + NMS_KEYS[nms_cfg['type']])


@MODELS.register_module()
class R2Tuning(BaseModel):
    """R²-Tuning over cached CLIP tokens of the last ``k`` layers.

    **Inputs** (``inputs`` dict): ``video`` ``[B, T, K*P*Cv]`` (official
    cache layout, fp16 or fp32, padded with ``+inf``) or ``[B, K, T, P, Cv]``
    or a list of per-sample ``[T_i, K*P*Cv]``; ``query`` ``[B, L, K*Cq]`` /
    ``[B, K, L, Cq]`` / list of ``[L_i, K*Cq]``; optional ``video_mask``
    ``[B, T]`` and ``query_mask`` ``[B, L]`` (default: ``isfinite`` of
    feature 0, the official rule). ``K >= k``; the last ``k`` layers are
    used. Input tensors are never modified (the official code zeroes the
    padding of the caller's tensors in place).

    **Data samples** (dicts or MMEngine data elements, one per video):

    - loss: ``gt_windows`` ``[G, 2]`` seconds (already clamped/fixed as
      the official ``Grounding.bind_boundary`` does; not needed without
      regression), ``fps``, ``saliency`` ``[T]`` targets in [0, 1],
      ``pos_clip`` (int, a clip with positive saliency);
    - predict: ``fps`` (with the coord head), ``duration`` seconds (default
      ``T / fps``), and ``qid``, ``vid``, ``query`` copied to the output.

    **Modes**: ``loss`` returns the loss dict and ``tensor`` the raw head
    tensors, both with the official *batched* semantics (TEF and positional
    encoding normalised by the padded ``T``; padded query tokens take part
    in the spatial-pooling max; the pyramid and heads do not mask).
    ``predict`` runs the batch at once but masks every padding effect, so
    each sample gets exactly the official batch-1 test output, then applies
    :func:`~vtg_r2_tuning.models.postprocess.r2_postprocess`; it returns one
    dict per sample: ``qid``, ``vid``, ``query`` (when given),
    ``pred_relevant_windows`` ``[[start_s, end_s, score], ...]`` and
    ``pred_saliency_scores`` (one per clip).

    Args:
        arch (str | dict): CLIP architecture, which sets ``Cv``, ``Cq`` and
            ``P``; or ``dict(video_dims=Cv, query_dims=Cq, num_tokens=P)``
            for features of another backbone (e.g. the reduced-width demo).
        dims (int): hidden channels.
        k (int): CLIP layers used.
        dropout (float): token-map dropout.
        use_tef (bool): temporal endpoint features.
        strides (Sequence[int]): pyramid strides (``(1,)`` for YouTube
            Highlights / TVSum).
        buffer_size (int): max clips of the official point buffer.
        max_num_moment (int): windows kept per query before NMS.
        merge_cls_sal (bool): multiply saliency by video-query cosine.
        use_coord_head (bool): boundary regression head.
        heads, ffn_ratio, droppath: decoder settings.
        chunk_tokens (int): visual tokens per streamed chunk of the video
            map and pooling (see :class:`R2Block`; 0 = official whole-tensor
            formulation).
        loss_cfg (dict): :class:`R2Loss` arguments.
        test_cfg (dict): ``nms_cfg`` (default ``dict(type='normal',
            thres=0.7)``) and ``unit`` (rounding, seconds) of the
            post-processing; ``max_batch_elements`` (default 2**24): a batch
            given as per-sample lists is run in consecutive groups whose
            padded video holds at most this many elements (at least one
            sample each). Outputs do not depend on the grouping; it bounds
            the padded copy, whose fresh allocation costs more on CPU than
            batching saves.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'ViT-B/32',
                 dims: int = 256,
                 k: int = 4,
                 dropout: float = 0.5,
                 use_tef: bool = True,
                 strides: Sequence[int] = (1, 2, 4, 8),
                 buffer_size: int = 1024,
                 max_num_moment: int = 50,
                 merge_cls_sal: bool = True,
                 use_coord_head: bool = True,
                 heads: int = 8,
                 ffn_ratio: int = 4,
                 droppath: float = 0.1,
                 chunk_tokens: int = 2048,
                 loss_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.video_dims, self.query_dims, self.num_tokens = feature_dims(arch)
        self._recipe = dict(k=k)
        if isinstance(arch, str):
            self._recipe['backbone'] = canonical_arch(arch)
        self.strides = tuple(strides)
        self.buffer_size = buffer_size
        self.max_num_moment = max_num_moment
        self.merge_cls_sal = merge_cls_sal
        self.adapter = R2Block(dims, self.video_dims, self.query_dims, k,
                               dropout, use_tef, heads, ffn_ratio, droppath,
                               chunk_tokens)
        self.pyramid = ConvPyramid(dims, self.strides)
        self.pooling = AdaPooling(dims)
        self.class_head = ConvHead(dims, 1)
        self.coord_head = ConvHead(dims, 2) if use_coord_head else None
        self.coef = nn.Parameter(torch.ones(len(self.strides)))
        loss_cfg = dict(loss_cfg or {})
        loss_cfg.setdefault('use_reg', use_coord_head)
        self.loss_module = R2Loss(**loss_cfg)
        check_test_cfg(test_cfg)
        self.test_cfg = copy.deepcopy(DEFAULT_TEST_CFG)
        self.test_cfg.update(test_cfg or {})

    @classmethod
    def validate_args(cls, args: dict) -> None:
        """Check a config's arguments before building (the config lint's
        extension point): unknown ``test_cfg`` keys raise ValueError."""
        check_test_cfg(args.get('test_cfg'))

    # ------------------------------------------------------------------
    def _features(self, inputs: Dict[str, Any]):
        if not isinstance(inputs, dict) or 'video' not in inputs or \
                'query' not in inputs:
            raise TypeError("R2Tuning inputs must be a dict with 'video' and "
                            f"'query', got {type(inputs).__name__}")
        video, vmask, nclips = parse_features(inputs['video'],
                                              inputs.get('video_mask'),
                                              self.num_tokens,
                                              self.video_dims, 'video')
        query, qmask, _ = parse_features(inputs['query'],
                                         inputs.get('query_mask'), None,
                                         self.query_dims, 'query')
        query, qmask = query.to(video.device), qmask.to(video.device)
        if query.size(0) != video.size(0):
            raise ValueError(f'{video.size(0)} videos but {query.size(0)} '
                             'queries in the batch')
        return video, vmask, nclips, query, qmask

    def forward_tensors(self, video: Tensor, vmask: Tensor, nclips: Tensor,
                        query: Tensor, qmask: Tensor,
                        exact: bool) -> Dict[str, Any]:
        """Network up to the heads.

        Args:
            video (Tensor): ``[B, T, K, P, Cv]``.
            vmask (Tensor): ``[B, T]`` bool. nclips: ``[B]``.
            query (Tensor): ``[B, L, K, Cq]``. qmask: ``[B, L]`` bool.
            exact (bool): per-sample semantics (see class docstring).

        Returns:
            dict: ``video_emb`` ``[B, T, C]`` (after the level-0 ReLU),
            ``query_emb`` ``[B, 1, C]``, ``video_msk`` ``[B, T]``,
            ``class_levels`` / ``coord_levels`` (per level ``[B, N_l, 1|2]``),
            ``out_class`` ``[B, N, 1]``, ``out_coord`` ``[B, N, 2]`` or None,
            ``point`` ``[N, 4]``, ``pymid_msk`` (official per-level masks),
            ``coll_v`` (k x ``[B, T, C]``), ``coll_q`` (k x ``[B, 1, C]``).
        """
        t = video.size(1)
        norm = nclips if exact else torch.full_like(nclips, t)
        h, q, coll_v, coll_q = self.adapter(video, query, vmask, qmask,
                                            norm.to(video.device), exact)
        pymid = self.pyramid(h)
        masks = [
            length_mask(level_lengths(nclips, s), p.size(1)) if exact else None
            for s, p in zip(self.strides, pymid)
        ]
        cls = [self.class_head(p, m) for p, m in zip(pymid, masks)]
        coord = None
        if self.coord_head is not None:
            coord = [
                self.coord_head(p, m).exp() * self.coef[i]
                for i, (p, m) in enumerate(zip(pymid, masks))
            ]
        return dict(
            video_emb=h.relu() if 1 in self.strides else h,
            query_emb=self.pooling(q, qmask),
            video_msk=vmask.long(),
            class_levels=cls,
            coord_levels=coord,
            out_class=torch.cat(cls, 1),
            out_coord=None if coord is None else torch.cat(coord, 1),
            point=make_points([p.size(1) for p in pymid], self.strides,
                              self.buffer_size, h.device),
            pymid_msk=official_level_masks(vmask, self.strides, len(pymid)),
            coll_v=coll_v,
            coll_q=[self.pooling(c, qmask) for c in coll_q])

    def forward(self,
                inputs: Dict[str, Any],
                data_samples: Optional[List[Any]] = None,
                mode: str = 'tensor') -> Union[Dict, List]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_tensors(*self._features(inputs), exact=False)
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or '
                           'tensor')

    def loss(self, inputs: Dict[str, Any],
             data_samples: List[Any]) -> Dict[str, Tensor]:
        """Official batched training losses (see class docstring)."""
        video, vmask, nclips, query, qmask = self._features(inputs)
        out = self.forward_tensors(video, vmask, nclips, query, qmask, False)
        windows, saliency, pos_clip = pad_targets(
            data_samples, nclips, video.size(1),
            self.loss_module.weights.get('loss_reg') is not None)
        return self.loss_module(out, windows, saliency, pos_clip)

    # ------------------------------------------------------------------
    def predict_raw(self,
                    inputs: Dict[str, Any],
                    data_samples: Optional[List[Any]] = None
                    ) -> List[Dict[str, Tensor]]:
        """Per-sample outputs of the official batch-1 test path, computed
        in one batched pass.

        Returns:
            list[dict]: ``saliency`` ``[T_i]`` and, with the coord head,
            ``boundary`` ``[N_i, 3]`` (start_s, end_s, score), the top
            ``max_num_moment`` points by class score.
        """
        video, vmask, nclips, query, qmask = self._features(inputs)
        out = self.forward_tensors(video, vmask, nclips, query, qmask, True)
        if self.coord_head is not None and data_samples is None:
            raise ValueError('predict needs data samples with fps for the '
                             'boundary head')
        cos = F.cosine_similarity(out['video_emb'], out['query_emb'], dim=-1)
        results = []
        for i in range(video.size(0)):
            t = int(nclips[i])
            sizes = [int(level_lengths(nclips[i:i + 1], s))
                     for s in self.strides[:len(out['class_levels'])]]
            scores = [
                c[i, :n, 0].sigmoid()
                for c, n in zip(out['class_levels'], sizes) if n > 0
            ]
            sal = []
            for s in scores:
                s = s.repeat_interleave(t // s.size(0))
                sal.append(torch.cat((s, s[-1:].repeat(t - s.size(0)))))
            sal = torch.stack(sal).amax(dim=0)
            if self.merge_cls_sal:
                sal = sal * cos[i, :t]
            res = dict(saliency=sal)
            if self.coord_head is not None:
                fps = sample_field(data_samples[i], 'fps')
                if fps is None:
                    raise KeyError(f'data sample {i} lacks fps')
                coord = torch.cat([
                    c[i, :n] for c, n in zip(out['coord_levels'], sizes)
                    if n > 0
                ])
                point = make_points(sizes, self.strides, self.buffer_size,
                                    coord.device)
                score = torch.cat(scores)
                bnd = coord * coord.new_tensor([-1., 1.])
                bnd = (bnd * point[:, 3, None] + point[:, 0, None]) / float(
                    fps)
                bnd = torch.cat((bnd, score[:, None]), dim=-1)
                _, order = score.sort(descending=True)
                res['boundary'] = bnd[order[:self.max_num_moment]]
            results.append(res)
        return results

    def _predict_groups(self, inputs: Dict[str, Any]) -> Optional[list]:
        """Sample index groups for :meth:`predict` when the batch is given
        as per-sample lists (None for padded tensors: one pass)."""
        video = inputs.get('video') if isinstance(inputs, dict) else None
        if not isinstance(video, (list, tuple)) or set(inputs) - {
                'video', 'query'}:
            return None
        return group_by_size([v.size(0) for v in video], video[0][0].numel(),
                             self.test_cfg['max_batch_elements'])

    def _predict_raw_grouped(
            self,
            inputs: Dict[str, Any],
            data_samples: Optional[List[Any]] = None) -> List[dict]:
        """:meth:`predict_raw` over the groups of :meth:`_predict_groups`."""
        groups = self._predict_groups(inputs)
        if groups is None:
            return self.predict_raw(inputs, data_samples)
        return [
            res for group in groups for res in self.predict_raw(
                {k: [v[i] for i in group]
                 for k, v in inputs.items()}, None if data_samples is None
                else [data_samples[i] for i in group])
        ]

    def predict(self,
                inputs: Dict[str, Any],
                data_samples: Optional[List[Any]] = None) -> List[Any]:
        """Batched inference plus official post-processing.

        Returns the data samples with ``pred_relevant_windows`` (rows
        ``[start_s, end_s, score]``, with the coord head) and
        ``pred_saliency_scores`` set (a ``BaseDataElement`` gets them as data
        fields, a dict as keys; without data samples, new dicts), so metrics
        find predictions and ground truth in one place.
        """
        outputs = []
        for i, res in enumerate(self._predict_raw_grouped(inputs,
                                                          data_samples)):
            ds = None if data_samples is None else data_samples[i]
            pred = dict(pred_saliency_scores=res['saliency'].detach().cpu(
            ).tolist())
            if 'boundary' in res:
                t = res['saliency'].numel()
                duration = sample_field(ds, 'duration')
                if duration is None:
                    duration = t / float(sample_field(ds, 'fps'))
                pred['pred_relevant_windows'] = r2_postprocess(
                    res['boundary'].detach().cpu(), float(duration),
                    self.test_cfg['unit'], self.test_cfg['nms_cfg']).tolist()
            outputs.append(with_predictions(ds, pred))
        return outputs

    # ------------------------------------------------------------------
    # extension points of the grounding inference API (vtg_plugins.apis)
    @property
    def max_input_clips(self) -> int:
        """Longest clip sequence one forward takes: ``buffer_size``, the
        clips the official point buffer holds."""
        return self.buffer_size

    def input_feature_recipe(self) -> dict:
        """The feature-recipe fields this model's settings decide: ``k``
        (it reads the last k CLIP layers) and, for a named ``arch``, the
        CLIP ``backbone``."""
        return dict(self._recipe)

    def predict_candidates(
            self,
            inputs: Dict[str, Any],
            data_samples: Optional[List[Any]] = None) -> List[dict]:
        """Per sample, the outputs before post-processing: ``saliency``
        ``[T_i]`` and, with the coord head, ``windows`` ``[N_i, 3]``
        (start_s, end_s, score) in seconds from the first clip, the
        ``max_num_moment`` best points by class score."""
        out = []
        for res in self._predict_raw_grouped(inputs, data_samples):
            cand = dict(saliency=res['saliency'])
            if 'boundary' in res:
                cand['windows'] = res['boundary']
            out.append(cand)
        return out

    def merge_candidates(self, candidates: Dict[str, Tensor],
                         duration: float) -> Tensor:
        """The post-processing of :meth:`predict` on the ``windows``
        ``[N, 3]`` of several windows of one video, in video seconds (see
        :func:`~vtg_r2_tuning.models.postprocess.merge_window_candidates`).

        Returns:
            Tensor: ``[K, 3]`` rows ``(start_s, end_s, score)``, best first.
        """
        return merge_window_candidates(candidates['windows'], duration,
                                       self.max_num_moment,
                                       self.test_cfg['unit'],
                                       self.test_cfg['nms_cfg'])
