"""datasets of the TSTL project; each module registers on import."""
from .group_labels import GroupLabelDataset  # noqa: F401
from .samplers import ClassBalancedBatchSampler  # noqa: F401
from .video_list import TSTLVideoDataset  # noqa: F401
from .epic_kitchens import EpicKitchensDataset  # noqa: F401
from .sampling import (DenseSampleFrames, SegmentSampleFrames,  # noqa: F401
                       ShortSideResize, UniformThreeCrop)
from .decoding import DecordWithPyAVDecode, DecordWithPyAVInit  # noqa: F401
from .rand_augment import VideoRandAugment  # noqa: F401
