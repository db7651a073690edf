from .highlights import TVSumDataset, YouTubeHighlightsDataset, load_splits
from .transforms import PackR2Inputs, R2GroundingTargets, R2HighlightTargets

__all__ = [
    'TVSumDataset', 'YouTubeHighlightsDataset', 'load_splits',
    'PackR2Inputs', 'R2GroundingTargets', 'R2HighlightTargets'
]
