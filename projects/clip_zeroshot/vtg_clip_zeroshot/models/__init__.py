from .window_rule import candidate_windows, contrast_windows, select_moments
from .zero_shot import CLIPZeroShotGrounder

__all__ = [
    'CLIPZeroShotGrounder', 'contrast_windows', 'candidate_windows',
    'select_moments'
]
