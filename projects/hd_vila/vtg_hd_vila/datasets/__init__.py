"""datasets and transforms of the HD-VILA project; each module registers on
import."""
from .clip_sampling import SampleHDVILAClips  # noqa: F401
from .video_reading import (
    HDVILAVideoDecode,
    HDVILAVideoInit,  # noqa: F401
    LoadHDVILAFrames)
from .geometry import HDVILAFitPad, HDVILAResizeCrop  # noqa: F401
from .packing import PackHDVILAInputs  # noqa: F401
from .retrieval import HDVILAVideoRetrievalDataset  # noqa: F401
from .video_qa import HDVILAVideoQADataset  # noqa: F401
from .multiple_choice import (
    HDVILAMSRVTTMCDataset,  # noqa: F401
    HDVILATGIFMultipleChoiceDataset)
from .pipelines import hd_vila_pipeline  # noqa: F401
from .pretrain import (
    HDVILAPretrainDataset,  # noqa: F401
    hd_vila_pretrain_pipeline)
