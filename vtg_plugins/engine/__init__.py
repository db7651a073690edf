"""Hooks and optimizer pieces shared by the projects."""
from .recipe_hook import FeatureRecipeHook, dataset_recipe

__all__ = ['FeatureRecipeHook', 'dataset_recipe']
