"""What configs state about their feature stores (stores, backends,
recipes), layered into the recipe of an extraction run, and the default
store names of recipes."""
from pathlib import Path

import pytest
from mmengine.config import Config

from vtg_plugins.features import FeatureRecipe
from vtg_plugins.features.config_recipes import (StoreSpec, recipe_kwargs,
                                                 run_recipe, stated_features)
from vtg_plugins.features.store_writing import (default_store_name,
                                                writer_kwargs)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
LN_FINAL = 'between_sot_eot_ln_final_max30'


def _config(name: str) -> Config:
    # the stated features need no project code
    return Config.fromfile(CONFIGS / name, import_custom_modules=False)


def _ds(**kwargs):
    return dict(
        dict(
            type='GroundingDataset',
            data_root='data/x/',
            ann_file='a.jsonl',
            video_store=dict(type='DirectoryStore', root='vid'),
            query_store=dict(type='LMDBStore', root='/abs/txt')), **kwargs)


def test_stated_features_of_the_checkout_configs():
    qvh = stated_features(
        _config('r2_tuning/r2_tuning_clip-b32_1xb128-30e_qvhighlights.py'))
    # the official R²-Tuning store names, through the RepeatDataset
    assert qvh.video_store == StoreSpec('data/qvhighlights/clip_b32_vid_k4',
                                        'dir')
    assert qvh.query_store == StoreSpec('data/qvhighlights/clip_b32_txt_k4',
                                        'dir')
    assert qvh.recipe == dict(
        backbone='ViT-B/32',
        weights='openai',
        layers=[9, 10, 11, 12],
        clip_len=2.0,
        crop=224,
        dtype='float16')
    assert qvh.query_recipe == dict(
        text_tokens='sot_eot_last_k', text_normalizer=None)
    assert qvh.ann_format == 'qvhighlights'
    charades = stated_features(
        _config('r2_tuning/r2_tuning_clip-b32_1xb32-50e_charades-sta.py'),
        'val')
    assert charades.recipe == dict(qvh.recipe, clip_len=1.0)
    assert charades.source.endswith('(val)')
    # a dataset stating no rate takes ann_kwargs.clip_len
    one = stated_features(
        dict(
            train_dataloader=dict(
                dataset=_ds(
                    recipe=dict(dtype='float16'),
                    ann_kwargs=dict(clip_len=2.0)))))
    assert one.recipe == dict(dtype='float16', clip_len=2.0)

    nlq = 'groundnlq/groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py'
    gnlq = stated_features(_config(nlq), 'val', nlq)
    assert gnlq.query_store == StoreSpec(
        'data/ego4d_nlq/lmdb/nlq_v2_clip_token_features', 'lmdb')
    assert gnlq.recipe['backbone'] == 'internvideo+egovlp'
    assert gnlq.recipe['clip_len'] == 16.043 / 30
    assert gnlq.query_recipe == dict(
        backbone='ViT-B/32',
        weights='openai',
        k=1,
        dtype='float32',
        text_tokens=LN_FINAL,
        text_normalizer='canonical_question')
    assert gnlq.ann_format == 'ego4d_nlq_json'
    # pre-training: the train split holds the narration queries
    pre = stated_features(
        _config('groundnlq/groundnlq_internvideo-egovlp_4xb4-10e_'
                'ego4d-narration.py'))
    assert pre.query_store.path.endswith('em_narration_clip_token_features')
    assert pre.ann_format == 'normalized'
    # train + val through a ConcatDataset: the same stores
    trainval = stated_features(
        _config('groundnlq/groundnlq_internvideo-egovlp-narration-pt_1xb2-'
                '10e_ego4d-nlq-trainval.py'))
    assert trainval.query_store == gnlq.query_store


def test_stated_features_errors():
    cfg = dict(
        train_dataloader=dict(
            dataset=dict(
                type='ConcatDataset',
                datasets=[_ds(recipe=dict(
                    k=2)), _ds(recipe=dict(k=3))])))
    with pytest.raises(ValueError, match=r'c\.py \(train\).*different recipe'):
        stated_features(cfg, filename='c.py')
    with pytest.raises(ValueError, match='no val_dataloader dataset'):
        stated_features(cfg, 'val', 'c.py')
    bad = dict(
        train_dataloader=dict(
            dataset=_ds(video_store=dict(type='MyStore', root='v'))))
    with pytest.raises(ValueError, match="'MyStore' has no writer"):
        stated_features(bad)
    one = stated_features(dict(train_dataloader=dict(dataset=_ds())))
    assert one.video_store == StoreSpec('data/x/vid', 'dir')
    assert one.query_store == StoreSpec('/abs/txt', 'lmdb')  # absolute root
    assert one.recipe == {} and one.ann_format is None


def test_recipe_kwargs():
    assert recipe_kwargs(
        dict(
            layers=[9, 10, 11, 12],
            clip_len=0.5,
            dtype='float16',
            layout='[T, k, P, C]',
            model_cfg=dict(a=1))) == dict(
                k=4, fps=2.0, dtype='float16', model_cfg=dict(a=1))
    with pytest.raises(ValueError, match=r'cfg: layers \[1, 2\] are not k=3'):
        recipe_kwargs(dict(layers=[1, 2], k=3), 'cfg')
    with pytest.raises(ValueError, match='clip_len 2.0 disagrees with fps 1'):
        recipe_kwargs(dict(clip_len=2.0, fps=1.0))


def test_run_recipe_layers_defaults_config_and_overrides():
    stated = stated_features(
        dict(
            query_recipe=dict(k=1, dtype='float32', text_tokens=LN_FINAL),
            train_dataloader=dict(
                dataset=_ds(recipe=dict(clip_len=16.043 / 30, crop=224)))),
        'train', 'g.py')
    run = run_recipe(stated, dict(text_normalizer=None), with_video=False)
    assert run.kwargs == dict(
        fps=30 / 16.043,
        crop=224,
        k=1,
        dtype='float32',
        text_tokens=LN_FINAL,
        text_normalizer=None)
    # the query store is required to meet the recipe on the keys it
    # states (a queries-only meta has no crop) and the whole query recipe
    meta = dict(
        clip_len=16.043 / 30,
        k=1,
        dtype='float32',
        text_tokens=LN_FINAL,
        layout='[L, C]')
    run.check(meta, 'query')
    with pytest.raises(
            ValueError,
            match=r'recipe of g\.py \(train\).*'
            "dtype: store has 'float16'"):
        run.check(dict(meta, dtype='float16'), 'query')
    with pytest.raises(ValueError, match='crop: store has <absent>'):
        run.check(dict(meta), 'video')
    # an override is not required to meet the config's value
    over = run_recipe(stated, dict(dtype='float16'), with_video=False)
    assert over.kwargs['dtype'] == 'float16'
    over.check(dict(meta, dtype='float16'), 'query')
    # the video store cannot be made with the query side's blocks
    with pytest.raises(ValueError, match=r"on \['dtype', 'k'\]"):
        run_recipe(stated)
    with pytest.raises(ValueError, match=r"cannot override \['layers'\]"):
        run_recipe(None, dict(layers=[1]))
    assert run_recipe(None).kwargs == {}  # the FeatureRecipe defaults


def test_default_store_names():
    assert default_store_name(FeatureRecipe(), 'video') == 'clip_b32_vid_k4'
    assert default_store_name(FeatureRecipe(), 'query') == 'clip_b32_txt_k4'
    assert default_store_name(FeatureRecipe('ViT-L/14-336', k=2),
                              'video') == 'clip_l14_336px_vid_k2'
    tokens = FeatureRecipe(
        k=1, text_tokens=LN_FINAL, text_normalizer='canonical_question')
    assert default_store_name(tokens, 'video') == 'clip_b32_vid_k1'
    assert default_store_name(
        tokens, 'query') == (f'clip_b32_txt_k1_{LN_FINAL}_canonical_question')
    with pytest.raises(ValueError, match='modality'):
        default_store_name(tokens, 'txt')


def test_writer_kwargs_compression_is_an_option():
    assert writer_kwargs('lmdb', 'query') == dict(
        array_name='token_features', compress=False)
    assert writer_kwargs(
        'lmdb', 'video', compress=True) == dict(
            array_name='features', compress=True)
    assert writer_kwargs('dir', 'video') == dict(ext='.npy')
    assert writer_kwargs('dir', 'query', True) == dict(
        ext='.npz', compress=True)
    assert writer_kwargs('packed', 'video') == dict(name='features')
    with pytest.raises(ValueError, match="'packed' backend stores raw"):
        writer_kwargs('packed', 'video', compress=True)


def test_query_store_recipe_of_a_config():
    """The datasets' query_recipe (a top-level one laid over it); the query
    store is required to have the video CLIP's fields plus the query-token
    recipe, or the whole recipe of its own encoder."""
    clip = dict(backbone='ViT-B/32', weights='openai', layers=[2, 3],
                dtype='float16')
    ds = _ds(recipe=dict(clip, clip_len=2.0, crop=224),
             query_recipe=dict(text_tokens='sot_eot_last_k',
                               text_normalizer=None))
    stated = stated_features(
        dict(query_recipe=dict(text_normalizer='canonical_question'),
             train_dataloader=dict(dataset=ds)), 'train', 'r.py')
    assert stated.query_recipe == dict(
        text_tokens='sot_eot_last_k', text_normalizer='canonical_question')
    run = run_recipe(stated)
    assert run.kwargs['text_normalizer'] == 'canonical_question'
    meta = dict(clip, k=2, fps=0.5, clip_len=2.0, crop=224,
                text_tokens='sot_eot_last_k',
                text_normalizer='canonical_question', layout='[L, k, C]')
    run.check(meta, 'query')
    for key, value in (('layers', [3]), ('weights', 'laion2b'),
                       ('text_normalizer', None)):
        with pytest.raises(ValueError, match=f'{key}: store has'):
            run.check(dict(meta, **{key: value}), 'query')
    no_crop = {k: v for k, v in meta.items() if k != 'crop'}
    run.check(no_crop, 'query')  # a frame field: the video's
    with pytest.raises(ValueError, match='crop: store has <absent>'):
        run.check(no_crop, 'video')
