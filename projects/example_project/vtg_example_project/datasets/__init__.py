from .example_dataset import ANNOTATION_DIR, ExampleMomentDataset
from .transforms import PackExampleInputs, clips_in_windows

__all__ = [
    'ANNOTATION_DIR', 'ExampleMomentDataset', 'PackExampleInputs',
    'clips_in_windows'
]
