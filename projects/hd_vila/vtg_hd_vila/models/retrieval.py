"""HD-VILA text-video retrieval fine-tuning (official
``tasks/run_video_retrieval.py``).

The official fine-tuning builds the **stage-1 dual encoder**
(``HDVILA(transformer_cls=HDVILAForPreTraining, stage=1)``) and trains it
with ``NCEContrastiveLoss(temp=0.08)`` over the features gathered from
every GPU; the cross-encoder ``HDVILAForVideoTextRetrieval`` of
``modeling_stage.py`` is never built (its forward calls an undefined
``pooler``). The clips of a video are pooled into its feature by the mean
of the grid over clips, rows and columns, before ``v_proj`` (the configs'
``score_agg_func`` is not read on this path). Scores are dot products of
the L2-normalised features (``cal_cossim``), which
``TextVideoRetrievalMetric(protocol='hd_vila')`` reproduces.
"""
from typing import Optional, Sequence, Union

from vtg_plugins.registry import MODELS
from .pretrain import HDVILAPretrainStage1


@MODELS.register_module()
class HDVILARetrieval(HDVILAPretrainStage1):
    """The stage-1 dual encoder with the fine-tuning loss.

    Args: as :class:`HDVILAPretrainStage1`, ``contrastive_loss`` defaulting
    to ``NCEContrastiveLoss(temperature=0.08)`` (the sum of both
    directions, weight 1).

    ``predict`` sets ``text_feature`` and ``video_feature`` ``[H]`` on each
    sample (one caption per video; sample ``i``'s caption is the GT of its
    video), the fields ``TextVideoRetrievalMetric`` reads (keyed by
    ``sample_idx`` or ``qid``).
    """

    def __init__(self,
                 video_encoder: dict,
                 bert_config: dict,
                 bert_mean: bool = True,
                 bert_frozen_stage: Union[int, Sequence[int]] = -1,
                 contrastive_loss: dict = dict(
                     type='NCEContrastiveLoss', temperature=0.08),
                 data_preprocessor: Optional[dict] = dict(
                     type='HDVILADataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(video_encoder, bert_config, bert_mean,
                         bert_frozen_stage, contrastive_loss,
                         data_preprocessor, init_cfg)
