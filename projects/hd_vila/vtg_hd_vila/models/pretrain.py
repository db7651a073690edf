"""HD-VILA's two pre-training stages as MMEngine models.

- :class:`HDVILAPretrainStage1` (``run_pretrain_stage1_group.py``): a dual
  encoder (text half of the BERT + ``t_proj`` / video encoder + ``v_proj``)
  trained by video-text contrast (ITC, ``T = 0.05``, ``0.5 *`` the sum of
  both directions) over the batch of every rank.
- :class:`HDVILAPretrainStage2` (``run_pretrain_stage2_group.py``): the
  cross-modal half and the MLM / ITM heads on top of a stage-1 model whose
  parameters are frozen (official ``freeze_stage_one_params``).

Both ``predict`` the stage-1 retrieval features (``text_feature``,
``video_feature`` ``[H]``), which ``TextVideoRetrievalMetric(protocol=
'hd_vila')`` reads, as the official validation does.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS
from .bert_towers import freeze
from .clip_aggregation import check_aggregation
from .losses import (BERT_SPECIAL_IDS, IGNORE_INDEX, gather_with_grad,
                     mask_text_tokens, masked_lm_loss, matching_loss)
from .pretrain_transformer import HDVILAPretrainTransformer
from .video_text_base import (HDVILAVideoTextModel, cpu_float, sample_ints,
                              stack_text)


class HDVILADualEncoderBase(HDVILAVideoTextModel):
    """Retrieval features of a pre-training transformer (``self.transformer``
    set by the subclass) and their ``predict``."""

    def features(
        self, inputs: Dict[str,
                           torch.Tensor], samples: Sequence[BaseDataElement]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(text [B, H], video [B, H])`` L2-normalised features of the
        samples' captions (``text_ids`` / ``text_mask``) and videos."""
        ids, mask = stack_text(samples, 'text_ids', 'text_mask',
                               self.text_device)
        video = self.transformer.video_features(self.clip_grids(inputs))
        return self.transformer.text_features(ids, mask), video

    def tensor_outputs(
            self, inputs: Dict[str, torch.Tensor],
            data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``dict(text_features [B, H], vis_features [B, H])`` (official
        output names)."""
        text, video = self.features(inputs, data_samples)
        return dict(text_features=text, vis_features=video)

    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Set ``text_feature`` and ``video_feature`` ``[H]`` (CPU) on each
        sample."""
        text, video = self.features(inputs, data_samples)
        for sample, t, v in zip(data_samples, text, video):
            sample.set_field(cpu_float(t), 'text_feature')
            sample.set_field(cpu_float(v), 'video_feature')
        return data_samples


@MODELS.register_module()
class HDVILAPretrainStage1(HDVILADualEncoderBase):
    """Stage-1 pre-training: the dual encoder and its contrastive loss.

    Args:
        video_encoder (dict): see ``HDVILAVideoTextModel``.
        bert_config (dict): see ``build_bert_config``; the model holds its
            first ``num_hidden_layers // 2`` layers.
        bert_mean (bool): official ``bert_mean`` (True in every config).
        bert_frozen_stage (int | Sequence[int]): official
            ``bert_frozen_stage`` (-1: nothing frozen).
        contrastive_loss (dict): ``(video [N, H], text [N, H]) -> scalar``;
            stage 1's ITC by default.
        data_preprocessor (dict): default ``HDVILADataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.

    ``loss`` pairs sample ``i``'s caption with its video, gathers the
    features of every rank (:func:`gather_with_grad`) and returns
    ``loss_contrastive``.
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 bert_mean: bool = True,
                 bert_frozen_stage: Union[int, Sequence[int]] = -1,
                 contrastive_loss: dict = dict(
                     type='NCEContrastiveLoss',
                     temperature=0.05,
                     loss_weight=0.5),
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(video_encoder, bert_config, data_preprocessor,
                         init_cfg)
        self.transformer = HDVILAPretrainTransformer(
            self.bert_config,
            stage=1,
            bert_mean=bert_mean,
            frozen_layers=bert_frozen_stage)
        self.contrastive_loss = MODELS.build(contrastive_loss)

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        text, video = self.features(inputs, data_samples)
        return dict(
            loss_contrastive=self.contrastive_loss(
                gather_with_grad(video), gather_with_grad(text)))


@MODELS.register_module()
class HDVILAPretrainStage2(HDVILADualEncoderBase):
    """Stage-2 pre-training: MLM (and optionally ITM) through the
    cross-modal half.

    Args:
        video_encoder (dict): see ``HDVILAVideoTextModel``.
        bert_config (dict): see ``build_bert_config``.
        score_agg_func (str): clip pooling of the cross-modal states
            (official ``'lse'``).
        bert_mean (bool): pooling of the carried stage-1 text features.
        pixel_random_sampling_size (int): visual tokens kept while training
            (official 160).
        freeze_stage1 (bool): official ``freeze_s1``: no gradient reaches
            the video encoder, the embeddings and the text layers (their
            dropout still follows ``train()``, as the official model's
            does after its ``model.train()``).
        use_itm (bool): add the ITM loss (official stage 2: off); every
            sample then needs ``itm_label`` (1 matched, 0 a negative
            caption, which the dataset draws) and the MLM skips negatives.
        mlm_probability (float): chance of choosing a token (0.15).
        mask_token_id (int): ``[MASK]`` (``bert-base-uncased``: 103).
        special_token_ids (Sequence[int]): ids never chosen (the tokenizer's
            special tokens, padding included).
        data_preprocessor (dict): default ``HDVILADataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.

    The attribute ``generator`` (None: torch's global RNG, which MMEngine's
    ``randomness`` seeds) may be set to a CPU ``torch.Generator`` to make
    the training-time draws (MLM masking, visual token sampling)
    reproducible.

    ``loss`` corrupts the samples' captions (:func:`mask_text_tokens`) and
    returns ``loss_mlm`` (+ ``mlm_acc``; ``loss_itm`` and ``itm_acc`` with
    ITM). Parts no stage-2 loss reads stay frozen: stage 1's ``pooler1``,
    ``t_proj`` and ``v_proj`` (carried into the checkpoint, which retrieval
    starts from, and read by ``predict``'s retrieval features) and, without
    ITM, ``pooler2`` and ``cls.seq_relationship``.
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 score_agg_func: str = 'lse',
                 bert_mean: bool = True,
                 pixel_random_sampling_size: int = 160,
                 freeze_stage1: bool = True,
                 use_itm: bool = False,
                 mlm_probability: float = 0.15,
                 mask_token_id: int = 103,
                 special_token_ids: Sequence[int] = BERT_SPECIAL_IDS,
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(video_encoder, bert_config, data_preprocessor,
                         init_cfg)
        self.score_agg_func = check_aggregation(score_agg_func)
        self.use_itm = use_itm
        self.mlm_probability = mlm_probability
        self.mask_token_id = mask_token_id
        self.special_token_ids = tuple(special_token_ids)
        self.generator: Optional[torch.Generator] = None
        self.transformer = HDVILAPretrainTransformer(
            self.bert_config,
            stage=2,
            bert_mean=bert_mean,
            pixel_random_sampling_size=pixel_random_sampling_size)
        t = self.transformer
        freeze(t.bert.pooler1, t.t_proj, t.v_proj)
        if not use_itm:
            freeze(t.bert.pooler2, t.cls.seq_relationship)
        if freeze_stage1:
            freeze(self.video_encoder, t.bert.embeddings, *t.bert.text_layers)

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        device = self.text_device
        ids, mask = stack_text(data_samples, 'text_ids', 'text_mask', device)
        corrupted, labels = mask_text_tokens(ids, self.mask_token_id,
                                             self.bert_config.vocab_size,
                                             self.special_token_ids,
                                             self.mlm_probability,
                                             self.generator)
        if self.use_itm:
            itm_labels = sample_ints(data_samples, 'itm_label', device)
            labels = labels.masked_fill((itm_labels == 0)[:, None],
                                        IGNORE_INDEX)
        scores, relationship = self.transformer.pretraining_scores(
            corrupted, mask, self.clip_grids(inputs), self.score_agg_func,
            self.generator)
        loss_mlm, mlm_acc = masked_lm_loss(scores, labels)
        out = dict(loss_mlm=loss_mlm)
        if mlm_acc is not None:
            out['mlm_acc'] = mlm_acc
        if self.use_itm:
            out['loss_itm'], out['itm_acc'] = matching_loss(
                relationship, itm_labels)
        return out

    def tensor_outputs(
            self, inputs: Dict[str, torch.Tensor],
            data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``text_features``, ``vis_features`` ``[B, H]`` and the heads'
        ``prediction_scores [B, Lt, V]``, ``seq_relationship [B, 2]`` on the
        uncorrupted captions."""
        ids, mask = stack_text(data_samples, 'text_ids', 'text_mask',
                               self.text_device)
        grid = self.clip_grids(inputs)
        scores, relationship = self.transformer.pretraining_scores(
            ids, mask, grid, self.score_agg_func, self.generator)
        return dict(
            text_features=self.transformer.text_features(ids, mask),
            vis_features=self.transformer.video_features(grid),
            prediction_scores=scores,
            seq_relationship=relationship)
