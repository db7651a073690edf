"""HD-VILA's cross-modal classifiers (official ``modeling_stage.py:
HDVILAForSequenceClassification`` and ``HDVILAForMultipleChoice``) and the
clip-pooled training / prediction they share (``tasks/run_video_qa.py``).

Every text row is read with every clip of its video through the whole
BERT (text layers, then cross-modal layers over text + visual tokens); an
MLP (``Linear(H, 2H)``, ReLU, ``Linear(2H, outputs)``) scores ``pooler2``'s
output after dropout. The clip scores of a video are pooled by
``score_agg_func``: ``mean`` / ``max`` train with the cross entropy of the
pooled logits, ``lse`` with :func:`lse_clip_loss`.
"""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import nn
from transformers import BertConfig

from .bert_towers import HDVILABert, init_bert_weights
from .clip_aggregation import aggregate_clips, check_aggregation
from .losses import lse_clip_loss
from .video_text_base import HDVILAVideoTextModel, cpu_float, sample_ints


class HDVILACrossModalClassifier(nn.Module):
    """``bert`` (no ``pooler1``: nothing reads it), ``dropout`` and
    ``classifier`` of the official QA / MC transformers.

    Args:
        config (BertConfig): the BERT config.
        num_outputs (int): answers (QA) or 1 (a score per MC option).

    Every visual token is read (the downstream configs sample none).
    """

    def __init__(self, config: BertConfig, num_outputs: int) -> None:
        super().__init__()
        self.bert = HDVILABert(config, cross_modal=True, text_pooler=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        hidden = config.hidden_size
        self.classifier = nn.Sequential(
            nn.Linear(hidden, hidden * 2), nn.ReLU(True),
            nn.Linear(hidden * 2, num_outputs))
        init_bert_weights(self, config.initializer_range)

    def forward(self, grid: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            grid: ``[clips, B, h, w, C]``.
            input_ids, attention_mask: ``[T, L]``, ``T = B * K`` rows
                (video-major).

        Returns:
            ``[clips, T, num_outputs]`` logits.
        """
        states = self.bert.encode_text(input_ids, attention_mask)
        _, pooled = self.bert.cross_modal_clips(states, attention_mask, grid)
        return self.classifier(self.dropout(pooled))


class HDVILAClipClassifierModel(HDVILAVideoTextModel):
    """Training and prediction from clip logits ``[clips, B, K]``
    (subclasses give :meth:`clip_logits`).

    Args:
        video_encoder, bert_config, data_preprocessor, init_cfg: see
            ``HDVILAVideoTextModel``.
        num_outputs (int): classifier outputs per text row.
        score_agg_func (str): ``'mean'`` (the official default), ``'max'``
            or ``'lse'``.
        label_key (str): the int GT field of a data sample; rows with a
            negative label (an answer outside the vocabulary) add no loss.
    """

    def __init__(self, video_encoder: dict, bert_config: dict,
                 num_outputs: int, score_agg_func: str, label_key: str,
                 data_preprocessor: Optional[dict],
                 init_cfg: Optional[dict]) -> None:
        super().__init__(video_encoder, bert_config, data_preprocessor,
                         init_cfg)
        if num_outputs < 1:
            raise ValueError(f'need at least 1 output, got {num_outputs}')
        self.score_agg_func = check_aggregation(score_agg_func)
        self.label_key = label_key
        self.transformer = HDVILACrossModalClassifier(self.bert_config,
                                                      num_outputs)

    def clip_logits(self, inputs: Dict[str, torch.Tensor],
                    data_samples: List[BaseDataElement]) -> torch.Tensor:
        """``[clips, B, K]`` logits of the batch."""
        raise NotImplementedError

    def tensor_outputs(
            self, inputs: Dict[str, torch.Tensor],
            data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``dict(logits [clips, B, K])`` (before the clip pooling)."""
        return dict(logits=self.clip_logits(inputs, data_samples))

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``loss_cls``: the mean over the rows with a label ``>= 0``."""
        logits = self.clip_logits(inputs, data_samples)
        labels = sample_ints(data_samples, self.label_key, logits.device)
        known = labels >= 0
        if not known.any():
            return dict(loss_cls=logits.sum() * 0.)
        logits, labels = logits[:, known], labels[known]
        if self.score_agg_func == 'lse':
            losses = lse_clip_loss(logits, labels)
        else:
            losses = F.cross_entropy(
                aggregate_clips(logits, self.score_agg_func),
                labels,
                reduction='none')
        return dict(loss_cls=losses.mean())

    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Set ``pred_score`` ``[K]`` (the clip-pooled logits, CPU) and
        ``pred_label`` (their argmax) on each sample."""
        scores = aggregate_clips(
            self.clip_logits(inputs, data_samples), self.score_agg_func)
        for sample, score in zip(data_samples, scores):
            sample.set_field(cpu_float(score), 'pred_score')
            sample.set_field(int(score.argmax()), 'pred_label')
        return data_samples
