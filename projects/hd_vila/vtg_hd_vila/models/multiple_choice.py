"""HD-VILA multiple choice.

- :class:`HDVILAMultipleChoice`: TGIF-QA Action / Transition (official
  ``HDVILAForMultipleChoice`` trained by ``tasks/run_video_qa.py``): every
  option row (the question and the option, joined by the dataset) is read
  with every clip through the whole BERT and scored by a one-output MLP;
  the option scores are pooled over the clips.
- :class:`HDVILARetrievalMultipleChoice`: MSRVTT-MC (official
  ``tasks/run_msrvtt_mc.py``): the fine-tuned retrieval dual encoder scores
  each option caption by the dot product of its text feature with the
  video feature.

Both read ``option_ids`` / ``option_mask`` ``[K, L]`` from each data sample
(the same ``K`` for the batch) and ``predict`` ``pred_score [K]`` and
``pred_label``, which ``MultipleChoiceMetric`` reads with the sample's
``question_id`` and ``gt_label``.
"""
from typing import Dict, List, Optional

import torch
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS
from .cross_modal import HDVILAClipClassifierModel
from .retrieval import HDVILARetrieval
from .video_text_base import cpu_float, stack_text


def option_dot_scores(video: torch.Tensor,
                      options: torch.Tensor) -> torch.Tensor:
    """``video [B, D]`` . ``options [B * K, D]`` (video-major) ->
    ``[B, K]``."""
    if len(options) % len(video):
        raise ValueError(f'{len(options)} option rows cannot be split '
                         f'evenly over {len(video)} videos')
    options = options.view(len(video), -1, options.shape[-1])
    return torch.einsum('bd,bkd->bk', video, options)


@MODELS.register_module()
class HDVILAMultipleChoice(HDVILAClipClassifierModel):
    """Option scoring over the clips of a video (TGIF Action/Transition).

    Args:
        video_encoder (dict): see ``HDVILAVideoTextModel``.
        bert_config (dict): see ``build_bert_config``.
        score_agg_func (str): clip pooling, ``'mean'`` (the official default
            for TGIF), ``'max'`` or ``'lse'``.
        data_preprocessor (dict): default ``HDVILADataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.

    Training reads ``gt_label`` (the correct option) of each sample.
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 score_agg_func: str = 'mean',
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(video_encoder, bert_config, 1, score_agg_func,
                         'gt_label', data_preprocessor, init_cfg)

    def clip_logits(self, inputs: Dict[str, torch.Tensor],
                    data_samples: List[BaseDataElement]) -> torch.Tensor:
        """``[clips, B, K]`` option scores."""
        ids, mask = stack_text(data_samples, 'option_ids', 'option_mask',
                               self.text_device)
        grid = self.clip_grids(inputs)
        clips, videos = grid.shape[:2]
        scores = self.transformer(grid, ids, mask)
        return scores.view(clips, videos, -1)


@MODELS.register_module()
class HDVILARetrievalMultipleChoice(HDVILARetrieval):
    """MSRVTT-MC through the retrieval model: ``pred_score[k] = video
    feature . text feature of option k``.

    Args: as ``HDVILARetrieval`` (its ``loss`` trains on caption pairs;
    MSRVTT-MC is evaluated with a model fine-tuned for retrieval).
    """

    def option_scores(self, inputs: Dict[str, torch.Tensor],
                      data_samples: List[BaseDataElement]) -> torch.Tensor:
        """``[B, K]`` dot products of each video with its options."""
        ids, mask = stack_text(data_samples, 'option_ids', 'option_mask',
                               self.text_device)
        video = self.transformer.video_features(self.clip_grids(inputs))
        return option_dot_scores(video,
                                 self.transformer.text_features(ids, mask))

    def tensor_outputs(
            self, inputs: Dict[str, torch.Tensor],
            data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """``dict(scores [B, K])``."""
        return dict(scores=self.option_scores(inputs, data_samples))

    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Set ``pred_score`` ``[K]`` (CPU) and ``pred_label`` on each
        sample."""
        scores = self.option_scores(inputs, data_samples)
        for sample, score in zip(data_samples, scores):
            sample.set_field(cpu_float(score), 'pred_score')
            sample.set_field(int(score.argmax()), 'pred_label')
        return data_samples
