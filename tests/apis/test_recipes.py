"""Resolution of the video and query feature recipes of a checkpoint."""
import pytest
from mmengine.config import Config

from vtg_plugins.apis.recipes import (checked_fields, clip_backbone,
                                      recipe_clip_len, resolve_query_recipe,
                                      resolve_recipe)
from vtg_plugins.features import FeatureRecipe


def _cfg(**top):
    return Config(
        dict(
            test_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    dataset=dict(
                        ann_kwargs=dict(clip_len=1.0),
                        recipe=dict(dtype='float32', layers=[1])))),
            **top))


def test_recipe_precedence():
    model = dict(backbone='ViT-B/16', k=4)
    # the test dataset's clip length, the model, then the dataset recipe
    assert resolve_recipe(_cfg(), model) == dict(
        fps=1.0, backbone='ViT-B/16', k=4, dtype='float32', layers=[1])
    # a top-level recipe replaces the dataset one; checkpoint meta and the
    # argument override key by key, in that order
    cfg = _cfg(recipe=dict(dtype='float16', crop=336, k=2))
    meta = dict(feature_recipe=dict(fps=0.5, crop=224))
    assert resolve_recipe(cfg, model, meta, dict(fps=2.0)) == dict(
        fps=2.0, backbone='ViT-B/16', k=2, dtype='float16', crop=224)
    assert resolve_recipe(cfg, model, dict(feature_recipe=dict(k=1)))['k'] \
        == 1
    full = resolve_recipe(cfg, recipe=FeatureRecipe(k=1, crop=224))
    assert full['k'] == 1 and full['crop'] == 224 and full['fps'] == 0.5
    assert 'weights_hash' not in full  # None fields are not stated
    # a source stating one rate replaces both
    meta = dict(feature_recipe=dict(fps=0.5, clip_len=2.0))
    out = resolve_recipe(cfg, model, meta, dict(clip_len=4.0))
    assert out['clip_len'] == 4.0 and 'fps' not in out
    assert recipe_clip_len(out) == 4.0
    assert recipe_clip_len(resolve_recipe(cfg, model, meta)) == 2.0
    assert recipe_clip_len(dict(fps=4.0)) == 0.25
    assert recipe_clip_len({}) is None


def test_query_recipe():
    video = dict(backbone='ViT-B/32', k=4, fps=0.5)
    cfg = Config(dict(recipe=dict(clip_len=16.043 / 30)))
    # no query recipe anywhere: the video recipe itself (one CLIP)
    assert resolve_query_recipe(cfg, video) is video
    assert resolve_query_recipe(cfg, video, dict(k=1)) == dict(
        backbone='ViT-B/32', k=1, fps=0.5)
    # a config's query_recipe is laid over the recipe its datasets state,
    # as extraction makes the query store; the argument overrides it
    cfg.query_recipe = dict(backbone='ViT-B/32', k=1, text_tokens='x')
    assert resolve_query_recipe(cfg, video) == dict(
        clip_len=16.043 / 30, backbone='ViT-B/32', k=1, text_tokens='x')
    assert resolve_query_recipe(cfg, video,
                                dict(dtype='float32'))['dtype'] == 'float32'
    assert video == dict(backbone='ViT-B/32', k=4, fps=0.5)  # untouched


@pytest.mark.parametrize('backbone, name', [('ViT-B/32', 'ViT-B/32'),
                                            ('ViT-L/14-336', 'ViT-L/14-336px'),
                                            ('synthetic', None),
                                            ('internvideo+egovlp', None),
                                            (None, None)])
def test_clip_backbone(backbone, name):
    assert clip_backbone(dict(backbone=backbone)) == name


def test_checked_fields():
    recipe = dict(
        backbone='ViT-B/32',
        k=2,
        layers=[2, 3],
        layout='[T, C]',
        fps=0.5,
        model_cfg={})
    assert checked_fields(recipe) == dict(
        backbone='ViT-B/32', layers=[2, 3], fps=0.5)
