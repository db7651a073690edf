"""``BaseMetric`` wrappers registered in ``vtg_plugins.registry.METRICS``."""
from .crosstask_metric import CrossTaskMetric
from .dump import DumpSubmission
from .few_shot_metric import FewShotAccuracyMetric
from .full_video_retrieval_metric import FullVideoRetrievalMetric
from .grounding_metric import (Ego4DNLQMetric, MomentRetrievalMetric,
                               QVHighlightsMetric)
from .highlight_metric import TVSumMetric, YouTubeHighlightsMetric
from .qa_metric import MultipleChoiceMetric, OpenEndedQAMetric
from .retrieval_metric import TextVideoRetrievalMetric

__all__ = [
    'CrossTaskMetric', 'DumpSubmission', 'Ego4DNLQMetric', 'MomentRetrievalMetric',
    'QVHighlightsMetric', 'TVSumMetric', 'YouTubeHighlightsMetric',
    'MultipleChoiceMetric', 'OpenEndedQAMetric', 'TextVideoRetrievalMetric',
    'FewShotAccuracyMetric', 'FullVideoRetrievalMetric'
]
