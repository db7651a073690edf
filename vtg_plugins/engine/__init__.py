"""Hooks and optimizer pieces shared by the projects."""
from .activation_checkpointing import apply_activation_checkpointing
from .fsdp_optim_wrapper import (FSDPAmpOptimWrapper, FSDPBF16OptimWrapper,
                                 FSDPOptimWrapper)
from .poly_warmup_lr import (PolyDecayWithWarmupLR,
                             PolyDecayWithWarmupParamScheduler)
from .gathered_weights import whole_weights
from .random_state_hook import RandomStateHook
from .recipe_hook import FeatureRecipeHook, dataset_recipe
from .repro_card_hook import CheckpointCardHook, ReproducibilityCardHook

__all__ = [
    'apply_activation_checkpointing', 'CheckpointCardHook', 'FSDPOptimWrapper',
    'FSDPAmpOptimWrapper', 'FSDPBF16OptimWrapper', 'FeatureRecipeHook',
    'dataset_recipe', 'PolyDecayWithWarmupLR',
    'PolyDecayWithWarmupParamScheduler', 'RandomStateHook',
    'ReproducibilityCardHook', 'whole_weights'
]
