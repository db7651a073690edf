"""The transformer of HD-VILA pre-training and retrieval (official
``modeling_stage.py: HDVILAForPreTraining``).

- Stage 1 (and retrieval fine-tuning): the text half of the BERT, ``t_proj``
  and ``v_proj``; text features are ``normalize(t_proj(pooler1(.)))``, video
  features ``normalize(v_proj(mean of the grid over clips, rows and
  columns))``.
- Stage 2 adds the cross-modal half and ``cls`` (``BertPreTrainingHeads``):
  the text is repeated for every clip, the cross-modal states and pooled
  outputs are pooled over the clips (``score_agg_func``), and the heads
  read the text part.

Names are the official ones (``bert``, ``cls``, ``t_proj``, ``v_proj``).
The MLM decoder starts as a copy of the word embeddings, not tied to them,
as the official ``_tie_or_clone_weights`` does.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertPreTrainingHeads

from .bert_towers import HDVILABert, init_bert_weights
from .clip_aggregation import aggregate_clips


class HDVILAPretrainTransformer(nn.Module):
    """``HDVILAForPreTraining`` of one stage.

    Args:
        config (BertConfig): the BERT config.
        stage (int): 1 (text half, projections) or 2 (+ cross-modal half and
            the MLM / ITM heads).
        bert_mean (bool): official ``bert_mean`` (1 in every config): the
            text feature pools the mean of the attended tokens instead of
            ``[CLS]``.
        pixel_random_sampling_size (int): stage 2's training-time visual
            token subset (see ``VisualInputEmbedding``).
        frozen_layers (int | Sequence[int]): official ``bert_frozen_stage``.
    """

    def __init__(self,
                 config: BertConfig,
                 stage: int,
                 bert_mean: bool = True,
                 pixel_random_sampling_size: int = 0,
                 frozen_layers: Union[int, Sequence[int]] = -1) -> None:
        super().__init__()
        if stage not in (1, 2):
            raise ValueError(f'stage must be 1 or 2, got {stage}')
        self.stage = stage
        self.bert_mean = bert_mean
        self.bert = HDVILABert(
            config,
            cross_modal=stage == 2,
            pixel_random_sampling_size=pixel_random_sampling_size,
            frozen_layers=frozen_layers)
        if stage == 2:
            self.cls = BertPreTrainingHeads(config)
        self.t_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        init_bert_weights(self, config.initializer_range)
        if stage == 2:
            decoder = self.cls.predictions.decoder
            decoder.weight = nn.Parameter(
                self.bert.embeddings.word_embeddings.weight.detach().clone())

    def text_features(self, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor) -> torch.Tensor:
        """``input_ids``, ``attention_mask [N, L]`` -> L2-normalised
        ``[N, H]``."""
        states = self.bert.encode_text(input_ids, attention_mask)
        pooled = self.bert.pool_text(states, attention_mask, self.bert_mean)
        return F.normalize(self.t_proj(pooled), dim=-1)

    def video_features(self, grid: torch.Tensor) -> torch.Tensor:
        """``grid [clips, B, h, w, C]`` -> L2-normalised ``[B, H]``."""
        return F.normalize(self.v_proj(grid.mean((0, 2, 3))), dim=-1)

    def pretraining_scores(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        grid: torch.Tensor,
        score_agg_func: str,
        generator: Optional[torch.Generator] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stage 2's MLM and ITM logits.

        Args:
            input_ids: ``[B, Lt]`` (MLM-corrupted) caption ids.
            attention_mask: ``[B, Lt]``.
            grid: ``[clips, B, h, w, C]``.
            score_agg_func: ``'mean'`` / ``'max'`` / ``'lse'`` over clips.
            generator: visual token sampling (training only).

        Returns:
            ``prediction_scores [B, Lt, V]``, ``seq_relationship [B, 2]``.
        """
        if self.stage != 2:
            raise RuntimeError('the MLM / ITM heads exist in stage 2 only')
        states = self.bert.encode_text(input_ids, attention_mask)
        states, pooled = self.bert.cross_modal_clips(states, attention_mask,
                                                     grid, generator)
        states = aggregate_clips(states, score_agg_func)
        pooled = aggregate_clips(pooled, score_agg_func)
        return self.cls(states[:, :input_ids.shape[1]], pooled)
