"""models of the TempCLR project; each module registers on import."""
from .data_preprocessor import TempCLRDataPreprocessor  # noqa: F401
from .losses import (  # noqa: F401
    StepAlignmentLoss, SymmetricContrastiveLoss, TemporalAlignmentLoss)
from .few_shot import FewShotAlignmentClassifier  # noqa: F401
from .dual_encoder import TempCLRDualEncoder  # noqa: F401
from .step_localizer import TempCLRStepLocalizer  # noqa: F401
