"""Record the feature recipe in every checkpoint, so inference on a new
video can rebuild exactly the features the model was trained on."""
from typing import Optional

from mmengine.hooks import Hook

from vtg_plugins.registry import HOOKS


def dataset_recipe(dataset) -> Optional[dict]:
    """The recipe of a (possibly wrapped) feature dataset: its video store's
    ``meta.json`` where there is one, else the recipe its config states."""
    while dataset is not None:
        store = getattr(dataset, 'video_store', None)
        if store is not None:
            if store.meta:
                return dict(store.meta)
            recipe = getattr(dataset, 'recipe', None)
            return dict(recipe) if recipe else None
        dataset = getattr(dataset, 'dataset', None)
    return None


@HOOKS.register_module()
class FeatureRecipeHook(Hook):
    """Write ``meta['feature_recipe']`` into each saved checkpoint, taken
    from the training dataset (see :func:`dataset_recipe`)."""

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        recipe = dataset_recipe(runner.train_dataloader.dataset)
        if recipe is not None:
            checkpoint.setdefault('meta', {})['feature_recipe'] = recipe
