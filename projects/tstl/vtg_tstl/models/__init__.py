"""models of the TSTL project; each module registers on import."""
from .backbone import TSTLBackbone  # noqa: F401
from .heads import TSTLCompoHead, TSTLFusedHead  # noqa: F401
from .losses import BatchAllTripletLoss  # noqa: F401
from .routed_recognizer import TSTLRoutedRecognizer  # noqa: F401
from .blending import TSTLMixupCutmixBlending  # noqa: F401
