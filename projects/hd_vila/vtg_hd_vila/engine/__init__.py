"""engine of the HD-VILA project (optimizer, parameter groups, learning-rate
schedule); each module registers on import."""
from .adamw import HDVILAAdamW  # noqa: F401
from .lr_schedule import HDVILAWarmupDecayLR  # noqa: F401
from .optim_constructor import HDVILAOptimWrapperConstructor  # noqa: F401
