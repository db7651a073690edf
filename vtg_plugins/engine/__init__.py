"""Hooks and optimizer pieces shared by the projects."""
from .poly_warmup_lr import (PolyDecayWithWarmupLR,
                             PolyDecayWithWarmupParamScheduler)
from .recipe_hook import FeatureRecipeHook, dataset_recipe

__all__ = [
    'FeatureRecipeHook', 'dataset_recipe', 'PolyDecayWithWarmupLR',
    'PolyDecayWithWarmupParamScheduler'
]
