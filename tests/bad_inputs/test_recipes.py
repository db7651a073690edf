"""Feature stores of another recipe than the config's: the datasets of the
official configs refuse each, naming the store, each differing field and
both recipes; a store without ``meta.json`` (the official downloads) is
accepted with one warning naming it, and
``tools/data/write_store_meta.py`` writes its ``meta.json`` from the
config, refusing a recipe the store's arrays contradict, an incomplete one
or one that would replace another (docs/data_contracts.md)."""
import importlib.util
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_plugins.registry import DATASETS
from vtg_plugins.testing import make_ego4d_nlq, make_qvhighlights

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
QVH = CONFIGS / 'r2_tuning' / 'r2_tuning_clip-b32_1xb128-30e_qvhighlights.py'
YOUTUBE = CONFIGS / 'r2_tuning' / 'r2_tuning_clip-b32_1xb4-200e_youtube-dog.py'
NLQ = CONFIGS / 'groundnlq' / \
    'groundnlq_internvideo-egovlp_2xb2-13e_ego4d-nlq.py'
TOOL = REPO / 'tools' / 'data' / 'write_store_meta.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location('write_store_meta', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WRITE_META = _load_tool()


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


@pytest.fixture
def qvh(tmp_path):
    """Synthetic QVHighlights caches of ViT-B/32's shapes labelled with the
    official recipe: 2 videos, 2 queries each."""
    return make_qvhighlights(
        tmp_path / 'qvh', splits=dict(val=2), num_clips=(3, 5), seed=1)


@pytest.fixture
def warnings_logged():
    """The warnings MMEngine's current logger records."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _qvh_dataset(root, config=QVH, **kw):
    """The val dataset of ``config`` on the stores under ``root``."""
    ds = Config.fromfile(config).val_dataloader.dataset
    ds.update(
        data_root=f'{root}/',
        ann_file='qvhighlights_val.jsonl',
        pipeline=[],
        **kw)
    return DATASETS.build(ds)


_DROP = object()


def _edit_meta(store: Path, **fields):
    """Set (or, for ``_DROP``, remove) fields of a store's meta.json."""
    meta = json.loads((store / 'meta.json').read_text())
    for key, value in fields.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    (store / 'meta.json').write_text(json.dumps(meta))


def _assert_names(msg: str, *parts: str):
    for part in parts:
        assert re.search(part, msg), f'{part!r} not in:\n{msg}'


# --- the datasets' check -------------------------------------------------
@pytest.mark.parametrize(
    'field, value, shown',
    [('backbone', 'ViT-L/14', "backbone: store has 'ViT-L/14', expected "
      "'ViT-B/32'"),
     ('weights', 'laion2b', "weights: store has 'laion2b', expected 'openai'"),
     ('layers', [10, 11, 12], r'layers: store has \[10, 11, 12\], expected '
      r'\[9, 10, 11, 12\]'),
     ('clip_len', 1.0, 'clip_len: store has 1.0, expected 2.0'),
     ('crop', 336, 'crop: store has 336, expected 224'),
     ('dtype', 'float32', "dtype: store has 'float32', expected 'float16'"),
     ('weights', _DROP, "weights: store has <absent>, expected 'openai'")],
    ids=[
        'backbone', 'weights', 'layers', 'clip_len', 'crop', 'dtype',
        'no_weights'
    ])
def test_video_store_of_another_recipe(qvh, field, value, shown):
    _edit_meta(qvh.video_root, **{field: value})
    with pytest.raises(ValueError) as info:
        _qvh_dataset(qvh.root)
    msg = str(info.value)
    _assert_names(msg, f'video store {re.escape(str(qvh.video_root))}',
                  r'qvhighlights_val\.jsonl', shown, r'store recipe: +{',
                  r'expected recipe: +{')
    assert msg.count('store has') == 1  # only the differing field


@pytest.mark.parametrize(
    'field, value, shown',
    [('text_tokens', 'between_sot_eot_ln_final_max30',
      "text_tokens: store has 'between_sot_eot_ln_final_max30', expected "
      "'sot_eot_last_k'"),
     ('text_normalizer', 'canonical_question',
      "text_normalizer: store has 'canonical_question', expected None"),
     ('layers', [12], r'layers: store has \[12\], expected \[9, 10, 11, 12\]'),
     ('backbone', 'ViT-B/16', "backbone: store has 'ViT-B/16'")],
    ids=['text_tokens', 'text_normalizer', 'layers', 'backbone'])
def test_query_store_of_another_recipe(qvh, field, value, shown):
    _edit_meta(qvh.query_root, **{field: value})
    with pytest.raises(ValueError) as info:
        _qvh_dataset(qvh.root)
    _assert_names(
        str(info.value), f'query store {re.escape(str(qvh.query_root))}',
        shown, r'store recipe: +{', r'expected recipe: +{')


def test_recipe_rate_other_than_the_annotations_clip_len(qvh):
    with pytest.raises(ValueError) as info:
        _qvh_dataset(qvh.root, ann_kwargs=dict(clip_len=1.0))
    _assert_names(
        str(info.value), r'qvhighlights_val\.jsonl',
        'ann_kwargs.clip_len is 1.0 s', 'features are 2 s apart')


def test_recipe_that_contradicts_itself(qvh):
    with pytest.raises(ValueError) as info:
        _qvh_dataset(qvh.root, recipe=dict(fps=1.0))
    _assert_names(
        str(info.value), r'qvhighlights_val\.jsonl',
        'video recipe contradicts itself', 'fps 1.0 is not 1 / clip_len 2.0')


def test_highlight_store_of_another_recipe(tmp_path):
    """YouTube Highlights / TVSum datasets check their stores too."""
    cfg = Config.fromfile(YOUTUBE)
    import vtg_r2_tuning  # noqa: F401
    from vtg_r2_tuning.datasets import load_splits
    vid = load_splits('youtube')['dog']['val'][0]
    meta = dict(
        backbone='ViT-B/32',
        weights='openai',
        layers=[11, 12],
        fps='auto',
        crop=224,
        dtype='float16')
    rng = np.random.default_rng(0)
    for name, shape, extra in (('clip_b32_vid_k4', (3, 2, 50, 768), {}),
                               ('clip_b32_txt_k4', (4, 2, 512),
                                dict(
                                    text_tokens='sot_eot_last_k',
                                    text_normalizer=None))):
        with DirectoryWriter(tmp_path / name, meta=dict(meta, **extra)) as w:
            w.add(vid, rng.standard_normal(shape).astype(np.float16))
    (tmp_path / 'youtube_anno.json').write_text(
        json.dumps({vid: dict(match=[1, -1, 1])}))
    ds = dict(cfg.val_dataloader.dataset, data_root=str(tmp_path), pipeline=[])
    with pytest.raises(ValueError) as info:
        DATASETS.build(ds)
    _assert_names(
        str(info.value), 'YouTubeHighlightsDataset',
        re.escape(str(tmp_path / 'clip_b32_vid_k4')),
        r'layers: store has \[11, 12\], expected \[9, 10, 11, 12\]')


@pytest.fixture
def nlq(tmp_path):
    """Synthetic Ego4D NLQ of 256-d video features (EgoVLP's projected
    width), under the official recipes otherwise."""
    return make_ego4d_nlq(
        tmp_path / 'nlq',
        splits=dict(val=1),
        vid_dim=256,
        txt_dim=8,
        num_feats=(20, 24),
        seed=4)


def _nlq_dataset(data):
    import vtg_groundnlq  # noqa: F401
    ds = Config.fromfile(NLQ).val_dataloader.dataset
    ds.update(
        data_root=f'{data.root}/',
        pipeline=[],
        video_store=dict(type='LMDBStore', root=str(data.video_root)),
        query_store=dict(type='LMDBStore', root=str(data.query_root)))
    return DATASETS.build(ds)


def test_groundnlq_video_store_of_another_feature_width(nlq):
    with pytest.raises(ValueError) as info:
        _nlq_dataset(nlq)
    _assert_names(
        str(info.value), 'Ego4DNLQDataset',
        f'video store {re.escape(str(nlq.video_root))}',
        'feat_dim: store has 256, expected 2304')


def test_groundnlq_query_store_of_another_normalizer(nlq):
    _edit_meta(nlq.video_root, feat_dim=2304)
    _edit_meta(nlq.query_root, text_normalizer=None)
    with pytest.raises(ValueError) as info:
        _nlq_dataset(nlq)
    _assert_names(
        str(info.value), f'query store {re.escape(str(nlq.query_root))}',
        "text_normalizer: store has None, expected "
        "'canonical_question'")


def test_stores_without_meta_json_warn_once_each(qvh, warnings_logged):
    """The official downloads: accepted, one line per store (the train and
    val datasets share them), naming the store and the command."""
    for store in (qvh.video_root, qvh.query_root):
        (store / 'meta.json').unlink()
    for _ in range(2):
        assert len(_qvh_dataset(qvh.root)) == 4
    lines = [r.getMessage() for r in warnings_logged]
    assert len(lines) == 2, lines
    for line, store, modality in zip(lines, (qvh.video_root, qvh.query_root),
                                     ('video', 'query')):
        assert '\n' not in line
        _assert_names(line, f'^{re.escape(str(store))}: no meta.json',
                      'tools/data/write_store_meta.py',
                      f'--modality {modality}', '"backbone": "ViT-B/32"')


def test_dataset_stating_no_recipe_warns(qvh, warnings_logged):
    _qvh_dataset(qvh.root, recipe=None, query_recipe=None)
    lines = [r.getMessage() for r in warnings_logged]
    _assert_names(' | '.join(lines), 'states no recipe of its video features',
                  re.escape(str(qvh.video_root)) + ' is not checked')


# --- tools/data/write_store_meta.py --------------------------------------
def _strip_meta(*stores):
    for store in stores:
        (store / 'meta.json').unlink()


def test_store_without_meta_gets_the_configs_recipe(qvh, warnings_logged):
    _strip_meta(qvh.video_root, qvh.query_root)
    cfg = tmp_config(qvh.root)
    for store in (qvh.video_root, qvh.query_root):
        assert WRITE_META.main(
            [str(store), '--config',
             str(cfg), '--split', 'val']) == 0
    video = json.loads((qvh.video_root / 'meta.json').read_text())
    query = json.loads((qvh.query_root / 'meta.json').read_text())
    assert (video['layers'], video['fps'], video['crop']) == \
        ([9, 10, 11, 12], 0.5, 224)
    assert query['text_tokens'] == 'sot_eot_last_k' and 'crop' not in query
    assert len(_qvh_dataset(qvh.root)) == 4
    assert not warnings_logged  # both stores are now checked
    # the same recipe again: nothing to do
    assert WRITE_META.main(
        [str(qvh.video_root), '--config',
         str(cfg), '--split', 'val']) == 0


def tmp_config(root: Path) -> Path:
    """The official QVHighlights config with its datasets on ``root``."""
    path = root / 'qvh.py'
    path.write_text(f'_base_ = [{str(QVH)!r}]\n'
                    f'val_dataloader = dict(dataset=dict(data_root='
                    f'{str(root) + "/"!r}))\n')
    return path


def test_meta_of_another_recipe_is_not_replaced_without_force(qvh):
    cfg = tmp_config(qvh.root)
    _edit_meta(qvh.video_root, crop=336)
    with pytest.raises(ValueError) as info:
        WRITE_META.main(
            [str(qvh.video_root), '--config',
             str(cfg), '--split', 'val'])
    _assert_names(
        str(info.value), re.escape(str(qvh.video_root / 'meta.json')),
        'crop: store has 336, expected 224', '--force')
    assert WRITE_META.main([
        str(qvh.video_root), '--config',
        str(cfg), '--split', 'val', '--force'
    ]) == 0
    assert json.loads(
        (qvh.video_root / 'meta.json').read_text())['crop'] == 224


@pytest.mark.parametrize(
    'field, value, shown',
    [('dtype', 'float32', 'dtype float16, the recipe says float32'),
     ('layers', [11, 12], '4 layers on axis 1, the recipe keeps 2'),
     ('backbone', 'ViT-L/14', '768 channels, ViT-L/14 has 1024; 50 tokens '
      'per frame, ViT-L/14 has 257')],
    ids=['dtype', 'layers', 'width'])
def test_recipe_the_stores_arrays_contradict(qvh, field, value, shown):
    _strip_meta(qvh.video_root)
    with pytest.raises(ValueError) as info:
        WRITE_META.main([
            str(qvh.video_root), '--config',
            str(tmp_config(qvh.root)), '--split', 'val', '--recipe',
            f'{field}={json.dumps(value)}'
        ])
    _assert_names(
        str(info.value), re.escape(str(qvh.video_root)),
        r"video features 'syn\d+_0\.0_[\d.]+' of shape", shown)
    assert not (qvh.video_root / 'meta.json').exists()


def test_incomplete_or_contradicting_recipe_is_not_written(qvh):
    _strip_meta(qvh.query_root)
    with pytest.raises(ValueError) as info:
        WRITE_META.main([
            str(qvh.query_root), '--modality', 'query', '--recipe',
            'backbone=ViT-B/32', 'k=4'
        ])
    _assert_names(
        str(info.value), 'query recipe', 'not a complete recipe', 'no weights',
        'no dtype', 'no text_tokens')
    with pytest.raises(ValueError, match=r'layers \[12\] are not k=4'):
        WRITE_META.main([
            str(qvh.query_root), '--modality', 'query', '--recipe',
            'backbone=ViT-B/32', 'weights=openai', 'k=4', 'layers=[12]',
            'dtype=float16', 'text_tokens=sot_eot_last_k',
            'text_normalizer=null'
        ])
    assert not (qvh.query_root / 'meta.json').exists()


def test_store_that_is_not_the_configs_needs_a_modality(qvh, tmp_path):
    with pytest.raises(ValueError) as info:
        WRITE_META.main([
            str(tmp_path), '--config',
            str(tmp_config(qvh.root)), '--split', 'val'
        ])
    _assert_names(
        str(info.value), re.escape(str(tmp_path)), 'neither store of',
        'give --modality')


def test_command_line_exit_status(qvh):
    _strip_meta(qvh.video_root)
    args = [
        sys.executable,
        str(TOOL),
        str(qvh.video_root), '--modality', 'video', '--recipe',
        'backbone=ViT-B/32', 'weights=openai', 'layers=[9,10,11,12]',
        'clip_len=2.0', 'crop=224'
    ]
    bad = subprocess.run(args, capture_output=True, text=True)
    assert bad.returncode != 0 and 'no dtype' in bad.stderr
    good = subprocess.run(
        args + ['dtype=float16'], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert 'video recipe written' in good.stdout
