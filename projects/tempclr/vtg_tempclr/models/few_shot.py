"""Few-shot action recognition by sequence alignment of frame embeddings.

Each video of an episode (:class:`~vtg_tempclr.datasets.few_shot.
FewShotEpisodeDataset`) is embedded frame by frame by a frame encoder. A query
is then compared with every support video by an alignment cost over the
frame distance matrix ``1 - cos(q_i, s_j)``. The cost of a class is the mean
over its support videos, and the query goes to the class of lowest cost
(logits = -cost).

- ``metric='otam'``: ``0.5 * (OTAM(D) + OTAM(D^T))``, both directions (the
  OTAM re-implementation of the few-shot action recognition library that
  TempCLR's alignment code comes from).
- ``metric='dtw'``: ``DTW(D)``.

``predict`` uses the hard-min costs of
:mod:`vtg_plugins.evaluation.functional.sequence_alignment`. ``loss`` is the
episode cross-entropy over the soft-min costs of
:mod:`vtg_tempclr.models.alignment` (temperature ``lbda``).
"""
from typing import (Any, Dict, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from vtg_plugins.evaluation.functional.sequence_alignment import (
    dtw_distance, otam_distance)
from vtg_plugins.registry import MODELS
from .alignment import cosine_similarity_eps, soft_dtw, soft_otam
from .weight_loading import load_converted_checkpoint

FEW_SHOT_METRICS = ('dtw', 'otam')


@MODELS.register_module()
class LinearFrameEncoder(nn.Module):
    """Per-frame features through one linear layer, or as they are.

    Args:
        in_dim (int): feature size D (e.g. 2048 for ResNet-50 frames).
        out_dim (int, optional): embedding size H; None keeps the features
            unchanged (a frozen backbone with nothing trained).
    """

    def __init__(self, in_dim: int, out_dim: Optional[int] = None):
        super().__init__()
        self.in_dim = in_dim
        self.proj = nn.Identity() if out_dim is None else nn.Linear(
            in_dim, out_dim)

    def forward(self, vfeats: Tensor, vmasks: Tensor) -> Tensor:
        """``vfeats [M, F, D]``, ``vmasks [M, F]`` -> ``[M, F, H]``."""
        if vfeats.shape[-1] != self.in_dim:
            raise ValueError(f'LinearFrameEncoder expects {self.in_dim}-d '
                             f'features, got shape {list(vfeats.shape)}')
        return self.proj(vfeats)


@MODELS.register_module()
class TempCLRVideoTokenEncoder(nn.Module):
    """The per-token states of a TempCLR (VideoCLIP) video encoder.

    Args:
        encoder (dict): config of a model with ``video_token_states(vfeats
            [M, F, D], vmasks [M, F]) -> [M, F, H]``, e.g.
            ``dict(type='TempCLRDualEncoder', ...)``; its ``trainable``
            setting decides which parameters train.
        checkpoint (str, optional): a converted TempCLR / VideoCLIP
            checkpoint (``tools/convert_official.py``; path or URL) loaded
            strictly into ``encoder`` when this module is built, so a test
            config needs no checkpoint in the classifier's own key names.
    """

    def __init__(self, encoder: dict, checkpoint: Optional[str] = None):
        super().__init__()
        self.encoder = MODELS.build(encoder)
        if checkpoint is not None:
            load_converted_checkpoint(self.encoder, checkpoint)

    def forward(self, vfeats: Tensor, vmasks: Tensor) -> Tensor:
        """``vfeats [M, F, D]``, ``vmasks [M, F]`` -> ``[M, F, H]``."""
        return self.encoder.video_token_states(vfeats, vmasks)


def _episodes(inputs: Dict[str, Any],
              data_samples: Sequence[BaseDataElement]
              ) -> Iterator[Tuple[Tensor, Tensor, BaseDataElement]]:
    """``(vfeats, vmasks, sample)`` per episode of a batch; ``inputs[key]``
    is a list of per-episode tensors (``pseudo_collate``) or one stacked
    ``[B, ...]`` tensor."""
    for i, sample in enumerate(data_samples):
        yield inputs['vfeats'][i], inputs['vmasks'][i], sample


@MODELS.register_module()
class FewShotAlignmentClassifier(BaseModel):
    """Classify episode queries by their alignment cost to each class.

    Args:
        frame_encoder (dict): config of a module ``(vfeats [M, F, D],
            vmasks [M, F]) -> [M, F, H]``: :class:`LinearFrameEncoder` for
            image-backbone frame features (the OTAM set-up),
            :class:`TempCLRVideoTokenEncoder` for TempCLR/VideoCLIP
            per-second S3D features.
        metric (str): ``'otam'`` (default) or ``'dtw'``.
        lbda (float): soft-min temperature of the training costs. Default
            0.1.
        cos_eps (float): added to the norm product of the cosine similarity
            (TempCLR's ``cos_sim`` uses 0.01). Default 0.01.
        data_preprocessor (dict, optional): default
            ``BaseDataPreprocessor`` (moves the episode tensors to the
            device).
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=...)``.

    Inputs per batch: ``inputs = dict(vfeats, vmasks)``, each a list of
    per-episode tensors ``[N*(K+Q), F, D]`` / ``[N*(K+Q), F]`` (or stacked
    ``[B, ...]``), and one sample per episode as made by
    ``FewShotEpisodeDataset`` (support rows first). ``vmasks`` only reach
    the frame encoder: all ``F`` frames take part in the alignment (the
    dataset's masks are all True).
    """

    def __init__(self,
                 frame_encoder: dict,
                 metric: str = 'otam',
                 lbda: float = 0.1,
                 cos_eps: float = 0.01,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if metric not in FEW_SHOT_METRICS:
            raise ValueError(f'unknown few-shot metric {metric!r}; expected '
                             f'one of {FEW_SHOT_METRICS}')
        if not lbda > 0:
            raise ValueError(f'lbda must be > 0, got {lbda}')
        self.frame_encoder = MODELS.build(frame_encoder)
        self.metric, self.lbda, self.cos_eps = metric, lbda, cos_eps

    # --- distances -----------------------------------------------------------
    def frame_distances(self, queries: Tensor, support: Tensor) -> Tensor:
        """``1 - cos`` of every query frame with every support frame.

        Args:
            queries: ``[Nq, F, H]``.
            support: ``[Ns, F', H]``.

        Returns:
            ``[Nq, Ns, F, F']``.
        """
        sim = cosine_similarity_eps(queries[:, None], support[None],
                                    self.cos_eps)
        return 1 - sim

    def one_way_costs(self, dists: Tensor, soft: bool) -> Tensor:
        """``[..., F, F']`` -> ``[...]`` costs of aligning rows to columns
        with ``self.metric``: soft-min (differentiable, in the working dtype
        of :mod:`.alignment`) when ``soft``, else hard-min (float64, computed
        on the CPU by the shared numpy functions)."""
        if soft:
            soft_fn = soft_dtw if self.metric == 'dtw' else soft_otam
            return soft_fn(dists, self.lbda)
        hard_fn = dtw_distance if self.metric == 'dtw' else otam_distance
        costs = hard_fn(dists.detach().cpu().numpy())
        return torch.from_numpy(costs).to(dists.device)

    def alignment_costs(self, dists: Tensor, soft: bool) -> Tensor:
        """``[Nq, Ns, F, F']`` frame distances -> ``[Nq, Ns]`` costs: DTW,
        or OTAM averaged over both directions (see the module docstring)."""
        if self.metric == 'dtw':
            return self.one_way_costs(dists, soft)
        return 0.5 * (self.one_way_costs(dists, soft) +
                      self.one_way_costs(dists.transpose(-1, -2), soft))

    @staticmethod
    def class_costs(costs: Tensor, support_labels: Tensor,
                    num_ways: int) -> Tensor:
        """Mean cost over each class's support videos.

        Args:
            costs: ``[Nq, Ns]``.
            support_labels: ``[Ns]`` long in ``[0, num_ways)``.
            num_ways: N.

        Returns:
            ``[Nq, N]``.
        """
        onehot = F.one_hot(support_labels, num_ways).to(costs.dtype)
        counts = onehot.sum(0)
        if bool((counts == 0).any()):
            raise ValueError(f'episode has no support video for classes '
                             f'{(counts == 0).nonzero().flatten().tolist()}')
        return costs @ (onehot / counts)

    def episode_logits(self, vfeats: Tensor, vmasks: Tensor,
                       sample: BaseDataElement, soft: bool) -> Tensor:
        """``[N*Q, N]`` logits (``-`` class cost) of one episode's queries.

        Args:
            vfeats: ``[N*(K+Q), F, D]``, the support rows first.
            vmasks: ``[N*(K+Q), F]``.
            sample: the episode's sample (``support_labels``,
                ``query_labels``, ``num_ways``, ``episode_id``).
            soft: soft-min (training) or hard-min (prediction) costs.
        """
        num_support = len(sample.support_labels)
        num_rows = num_support + len(sample.query_labels)
        if vfeats.dim() != 3 or len(vfeats) != num_rows:
            raise ValueError(
                f'episode {sample.episode_id}: expected vfeats '
                f'[{num_rows}, F, D] ({num_support} support + '
                f'{num_rows - num_support} query videos), got shape '
                f'{list(vfeats.shape)}')
        frames = self.frame_encoder(vfeats.float(), vmasks.bool())
        costs = self.alignment_costs(
            self.frame_distances(frames[num_support:], frames[:num_support]),
            soft)
        labels = sample.support_labels.to(costs.device).long()
        return -self.class_costs(costs, labels, sample.num_ways)

    # --- BaseModel ---------------------------------------------------------
    def forward(self,
                inputs: Dict[str, Any],
                data_samples: Optional[Sequence[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict, List]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return [
                self.episode_logits(*episode, soft=False)
                for episode in _episodes(inputs, data_samples)
            ]
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or '
                           'tensor')

    def loss(self, inputs: Dict[str, Any],
             data_samples: Sequence[BaseDataElement]) -> Dict[str, Tensor]:
        """Episode cross-entropy over the soft-min logits, averaged over
        the episodes of the batch: ``dict(loss_cls)``."""
        losses = []
        for vfeats, vmasks, sample in _episodes(inputs, data_samples):
            logits = self.episode_logits(vfeats, vmasks, sample, soft=True)
            target = sample.query_labels.to(logits.device).long()
            losses.append(F.cross_entropy(logits, target))
        return dict(loss_cls=torch.stack(losses).mean())

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Any],
                data_samples: Sequence[BaseDataElement]
                ) -> List[BaseDataElement]:
        """Classify every query; one output per episode (the episode's
        sample, in order), as the runner's ``evaluate(len(dataset))``
        expects: ``pred_label [N*Q]`` (argmax of the hard-min logits),
        ``gt_label [N*Q]`` (``query_labels``), both episode labels in query
        order, and ``pred_scores [N*Q, N]`` (the logits, CPU), next to the
        sample's ``episode_id`` (what ``FewShotAccuracyMetric`` reads)."""
        for vfeats, vmasks, sample in _episodes(inputs, data_samples):
            logits = self.episode_logits(vfeats, vmasks, sample, soft=False)
            sample.set_data(
                dict(pred_label=logits.argmax(-1).cpu(),
                     gt_label=sample.query_labels.cpu(),
                     pred_scores=logits.cpu()))
        return list(data_samples)
