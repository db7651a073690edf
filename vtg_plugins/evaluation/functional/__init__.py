"""Pure metric functions (numpy/torch, vectorized, no I/O) reproducing the
official evaluators of the vtg_plugins methods."""
from ._utils import GT, PRED, EvaluationError
from .crosstask import crosstask_recall, read_assignment, step_dp
from .ego4d_nlq import ego4d_nlq_metrics, nlq_gt_windows, nlq_recall
from .few_shot import accuracy_ci95, episode_accuracies, few_shot_accuracy
from .full_video_retrieval import (FULL_VIDEO_PROTOCOLS, full_video_retrieval,
                                   full_video_scores)
from .highlight import binary_ap, qvhighlights_hl, tvsum_map, youtube_map
from .iou import cross_iou, ego4d_iou, hull_iou
from .moment_retrieval import (MAP_THRESHOLDS, R2_RECALL_THRESHOLDS,
                               detection_ap, interpolated_ap, r1_iou, r5_iou)
from .qa import (ANSWER_TYPES, index_accuracy, multiple_choice_accuracy,
                 open_ended_accuracy)
from .qvhighlights import eval_moment_retrieval, eval_qvhighlights
from .recognition import average_views, multiview_top_k_accuracy
from .retrieval import (RETRIEVAL_PROTOCOLS, both_directions, gt_ranks,
                        retrieval_metrics, retrieval_protocol, similarity,
                        text_video_retrieval)
from .sequence_alignment import (dtw_distance, official_dtw_cumulative,
                                 official_dtw_pad, official_otam_cumulative,
                                 official_otam_pad, otam_distance)

__all__ = [
    'GT', 'PRED', 'EvaluationError', 'crosstask_recall', 'read_assignment',
    'step_dp', 'ego4d_nlq_metrics', 'nlq_gt_windows', 'nlq_recall',
    'binary_ap', 'qvhighlights_hl', 'tvsum_map', 'youtube_map', 'cross_iou',
    'ego4d_iou', 'hull_iou', 'MAP_THRESHOLDS', 'R2_RECALL_THRESHOLDS',
    'detection_ap', 'interpolated_ap', 'r1_iou', 'r5_iou', 'ANSWER_TYPES',
    'index_accuracy', 'multiple_choice_accuracy', 'open_ended_accuracy',
    'eval_moment_retrieval', 'eval_qvhighlights', 'average_views',
    'multiview_top_k_accuracy', 'gt_ranks', 'retrieval_metrics', 'similarity',
    'text_video_retrieval', 'RETRIEVAL_PROTOCOLS', 'retrieval_protocol',
    'both_directions', 'accuracy_ci95', 'episode_accuracies',
    'few_shot_accuracy', 'FULL_VIDEO_PROTOCOLS', 'full_video_retrieval',
    'full_video_scores', 'dtw_distance', 'otam_distance',
    'official_dtw_cumulative', 'official_otam_cumulative', 'official_dtw_pad',
    'official_otam_pad'
]
