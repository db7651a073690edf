"""The recipes the configs state: complete for both stores of every
feature dataset, the official ones of each method (yeliudev/R2-Tuning
configs and tools, houzhijian/GroundNLQ README and yamls), and those the
synthetic generators write for the tiny configs."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

from vtg_plugins.apis.recipes import resolve_query_recipe, resolve_recipe
from vtg_plugins.features.config_recipes import stated_features
from vtg_plugins.features.recipe import (missing_fields, query_store_recipe,
                                         recipe_conflicts, recipe_differences)
from vtg_plugins.testing.synthetic import (clip_cache_recipes,
                                           ego4d_nlq_recipes)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
#: configs whose datasets read feature stores
FEATURE_CONFIGS = sorted(
    str(p.relative_to(CONFIGS))
    for p in (CONFIGS / 'r2_tuning').glob('*.py')) + sorted(
        str(p.relative_to(CONFIGS))
        for p in (CONFIGS / 'groundnlq').glob('*.py'))
R2_CLIP = dict(
    backbone='ViT-B/32',
    weights='openai',
    layers=[9, 10, 11, 12],
    crop=224,
    dtype='float16')
#: frames per second of the official R²-Tuning caches, per dataset
#: (configs/_base_/datasets/*.py: fps, frames_224_{fps}fps)
R2_RATES = {
    'qvhighlights': dict(clip_len=2.0),
    'ego4d-nlq': dict(clip_len=2.0),
    'charades-sta': dict(clip_len=1.0),
    'tacos': dict(clip_len=2.0),
    'tvsum': dict(fps=0.5),
    'youtube': dict(fps='auto'),  # frames_224_auto: one per labelled clip
}
NLQ_VIDEO = dict(
    backbone='internvideo+egovlp',
    weights='naq',
    video_fps=30.0,
    feat_stride=16.043,
    feat_window=16.043,
    clip_len=16.043 / 30,
    feat_dim=2304,
    dtype='float32')
NLQ_QUERY = dict(
    backbone='ViT-B/32',
    weights='openai',
    k=1,
    dtype='float32',
    text_tokens='between_sot_eot_ln_final_max30',
    text_normalizer='canonical_question')


def _stated(name: str, split: str):
    cfg = Config.fromfile(CONFIGS / name, import_custom_modules=False)
    return stated_features(cfg, split, name)


def _recipes(name: str, split: str):
    """``(video recipe, query store recipe)`` the datasets of ``split``
    state (the rate: the recipe's own, not ann_kwargs')."""
    stated = _stated(name, split)
    return stated.recipe, query_store_recipe(stated.recipe,
                                             stated.query_recipe)


@pytest.mark.parametrize('name', FEATURE_CONFIGS)
@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_every_config_states_complete_recipes(name, split):
    video, query = _recipes(name, split)
    assert missing_fields(video, 'video') == []
    assert missing_fields(query, 'query') == []
    assert recipe_conflicts(video) == recipe_conflicts(query) == []


@pytest.mark.parametrize('name',
                         [n for n in FEATURE_CONFIGS if '_clip-b32_' in n])
def test_r2_tuning_configs_state_the_official_recipe(name):
    # the dataset ends the name, before an engine suffix (`_fsdp`, ...)
    stem = re.sub(r'_(deepspeed-[\w-]+|fsdp[\w-]*)$', '', name[:-3])
    dataset = stem.split('_')[-1].split('-')
    key = '-'.join(dataset[:1] if dataset[0] in ('youtube',
                                                 'tvsum') else dataset)
    for split in ('train', 'val'):
        video, query = _recipes(name, split)
        assert video == dict(R2_CLIP, **R2_RATES[key]), split
        # the same CLIP without the frame fields, SOT..EOT as written
        assert query == dict({
            k: v
            for k, v in R2_CLIP.items() if k != 'crop'
        },
                             text_tokens='sot_eot_last_k',
                             text_normalizer=None)


@pytest.mark.parametrize(
    'name', [n for n in FEATURE_CONFIGS if 'internvideo-egovlp' in n])
def test_groundnlq_configs_state_the_official_recipes(name):
    for split in ('train', 'val'):
        stated = _stated(name, split)
        assert stated.recipe == NLQ_VIDEO
        assert stated.query_recipe == NLQ_QUERY
        assert query_store_recipe(stated.recipe, stated.query_recipe) == \
            NLQ_QUERY


@pytest.mark.parametrize('name, recipes', [
    ('r2_tuning/r2_tuning_tiny_1xb32-12e_synthetic-qvhighlights.py',
     clip_cache_recipes()),
    ('groundnlq/groundnlq_tiny_1xb2-3e_synthetic-ego4d-nlq.py',
     ego4d_nlq_recipes(vid_dim=64)),
])
def test_tiny_configs_state_what_the_generators_write(name, recipes):
    """The demo / tiny configs accept the synthetic stores (the same calls
    as projects/r2_tuning/tools/demo.py and the GroundNLQ tiny tests)."""
    for split in ('train', 'val'):
        video, query = _recipes(name, split)
        assert recipe_differences(recipes[0], video) == []
        assert recipe_differences(recipes[1], query) == []


def test_inference_encodes_queries_with_the_configs_query_recipe():
    """R²-Tuning's query recipe is its CLIP's (one extractor for both); a
    normalizer stated by the datasets is honoured; GroundNLQ's is a CLIP
    of its own."""
    r2 = Config.fromfile(
        CONFIGS / 'r2_tuning' /
        'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py',
        import_custom_modules=False)
    video = resolve_recipe(r2)
    assert video['weights'] == 'openai' and video['clip_len'] == 2.0
    assert resolve_query_recipe(r2, video) is video
    r2.test_dataloader.dataset.query_recipe.text_normalizer = \
        'canonical_question'
    query = resolve_query_recipe(r2, video)
    assert query == dict(
        video,
        text_tokens='sot_eot_last_k',
        text_normalizer='canonical_question')
    nlq = Config.fromfile(
        CONFIGS / 'groundnlq' /
        'groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py',
        import_custom_modules=False)
    video = resolve_recipe(nlq)
    query = resolve_query_recipe(nlq, video)
    assert video['backbone'] == 'internvideo+egovlp'
    assert {k: query[k] for k in NLQ_QUERY} == NLQ_QUERY
