from .postprocess import merge_window_candidates, r2_postprocess
from .r2_tuning import R2Tuning, feature_dims

__all__ = [
    'R2Tuning', 'feature_dims', 'merge_window_candidates', 'r2_postprocess'
]
