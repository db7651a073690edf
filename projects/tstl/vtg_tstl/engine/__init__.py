"""engine of the TSTL project; each module registers on import."""
from .optim_constructor import TSTLLayerDecayOptimWrapperConstructor  # noqa: F401
