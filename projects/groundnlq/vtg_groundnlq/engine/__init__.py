"""Training components of GroundNLQ (registered on import)."""
from .optim_constructor import GroundNLQOptimWrapperConstructor, \
    split_decay_params

__all__ = ['GroundNLQOptimWrapperConstructor', 'split_decay_params']
