"""Inference: feature recipes, video decoding, the moment-retrieval
inferencer, plots."""
from .features import FeatureExtractor, FeatureRecipe, build_extractor_from_meta
from .frames import (VideoDecodeError, decode_frames, find_videos, read_video,
                     resize_center_crop, sample_frame_indices)
from .inferencer import MomentRetrievalInferencer
from .plot import plot_moments

__all__ = [
    'FeatureExtractor', 'FeatureRecipe', 'build_extractor_from_meta',
    'VideoDecodeError', 'decode_frames', 'find_videos', 'read_video',
    'resize_center_crop', 'sample_frame_indices', 'plot_moments',
    'MomentRetrievalInferencer'
]
