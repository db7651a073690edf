"""HD-VILA open-ended video QA (MSRVTT-QA, TGIF-FrameQA; official
``HDVILAForSequenceClassification`` trained by ``tasks/run_video_qa.py``).
"""
from typing import Dict, List, Optional

import torch
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS
from .cross_modal import HDVILAClipClassifierModel
from .video_text_base import stack_text


@MODELS.register_module()
class HDVILAVideoQA(HDVILAClipClassifierModel):
    """Answer classification of a question over the clips of a video.

    Args:
        video_encoder (dict): see ``HDVILAVideoTextModel``.
        bert_config (dict): see ``build_bert_config``.
        num_labels (int): answer vocabulary size (official
            ``max(len(ans2label), 1500)`` for MSRVTT-QA, 1540 for FrameQA).
        score_agg_func (str): clip pooling, ``'mean'`` (the official
            default; FrameQA), ``'max'`` or ``'lse'`` (MSRVTT-QA's config).
        data_preprocessor (dict): default ``HDVILADataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.

    Each data sample holds the question as ``text_ids`` / ``text_mask``
    ``[L]`` and, for training, ``answer_label`` (-1 when the answer is out
    of the vocabulary: no loss). ``predict`` sets ``pred_score``
    ``[num_labels]`` and ``pred_label``, which ``OpenEndedQAMetric`` reads
    with the sample's ``question_id``, ``answer`` and ``answer_type``.
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 num_labels: int,
                 score_agg_func: str = 'mean',
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(video_encoder, bert_config, num_labels,
                         score_agg_func, 'answer_label', data_preprocessor,
                         init_cfg)

    def clip_logits(self, inputs: Dict[str, torch.Tensor],
                    data_samples: List[BaseDataElement]) -> torch.Tensor:
        """``[clips, B, num_labels]``."""
        ids, mask = stack_text(data_samples, 'text_ids', 'text_mask',
                               self.text_device)
        return self.transformer(self.clip_grids(inputs), ids, mask)
