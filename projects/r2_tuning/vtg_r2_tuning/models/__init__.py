from .r2_tuning import CLIP_ARCHS, R2Tuning

__all__ = ['CLIP_ARCHS', 'R2Tuning']
