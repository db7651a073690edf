"""models of the HD-VILA project; each module registers on import."""
from .data_preprocessor import HDVILADataPreprocessor  # noqa: F401
from .resnet_branches import HDVILAResNet  # noqa: F401
from .timesformer import TimeSformer  # noqa: F401
from .video_encoder import HDVILAVideoEncoder  # noqa: F401
from .losses import NCEContrastiveLoss  # noqa: F401
from .pretrain import HDVILAPretrainStage1, HDVILAPretrainStage2  # noqa: F401
from .retrieval import HDVILARetrieval  # noqa: F401
from .video_qa import HDVILAVideoQA  # noqa: F401
from .multiple_choice import (  # noqa: F401
    HDVILAMultipleChoice, HDVILARetrievalMultipleChoice)
