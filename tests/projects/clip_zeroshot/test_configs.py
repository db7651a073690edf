"""The baseline's configs: they lint, state complete recipes, and evaluate
end to end with the repository's tools (videos -> tools/data/extract_feat.py
-> tools/test.py, no checkpoint) on synthetic QVHighlights-format data, with
the predictions the inferencer gives on the same videos."""
import importlib.util
import json
from pathlib import Path

import pytest
from mmengine.config import Config

from vtg_clip_zeroshot import CLIPZeroShotGrounder
from vtg_plugins.apis import MomentRetrievalInferencer
from vtg_plugins.apis.recipes import resolve_query_recipe, resolve_recipe
from vtg_plugins.features import FeatureRecipe
from vtg_plugins.features.config_recipes import stated_features
from vtg_plugins.features.recipe import (missing_fields, query_store_recipe,
                                         recipe_conflicts)
from vtg_plugins.testing import feature_pipeline as H
from vtg_plugins.testing.configs import write_config

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / 'configs' / 'clip_zeroshot'
QVH = CONFIGS / 'clip-zeroshot_clip-b32_1xb32_qvhighlights.py'
CHARADES = CONFIGS / 'clip-zeroshot_clip-b32_1xb32_charades-sta.py'
TINY = CONFIGS / 'clip-zeroshot_tiny-clip_1xb4_synthetic-qvhighlights.py'
# video id -> seconds (5 fps): 6, 8 and 5 clips of 2 s
VIDEOS = {'va': 12, 'vb': 16, 'vc': 10}


def _tool(*parts):
    path = REPO.joinpath('tools', *parts)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configs_lint_clean(capsys):
    check = _tool('analysis', 'check_config.py')
    assert check.main([str(CONFIGS)]) == 0
    out = capsys.readouterr().out
    for cfg in (QVH, CHARADES, TINY):
        assert f'ok {cfg}' in out


@pytest.mark.parametrize('path', [QVH, CHARADES, TINY])
def test_configs_state_complete_embedding_recipes(path):
    stated = stated_features(Config.fromfile(path), 'test', path.name)
    video = stated.recipe
    query = query_store_recipe(video, stated.query_recipe)
    assert missing_fields(video, 'video') == []
    assert missing_fields(query, 'query') == []
    assert recipe_conflicts(video) == recipe_conflicts(query) == []
    assert video['frame_features'] == 'image_embedding'
    assert query['text_tokens'] == 'eot_ln_final_projected'
    assert stated.ann_format == 'qvhighlights'


@pytest.mark.parametrize('path, fps', [(QVH, 0.5), (CHARADES, 1.0)])
def test_the_inferencer_encodes_at_each_datasets_rate(path, fps):
    """The recipe the inferencer builds its extractor from: the dataset's
    rate, CLIP embeddings of both sides, one CLIP for both."""
    cfg = Config.fromfile(path)
    model_recipe = CLIPZeroShotGrounder().input_feature_recipe()
    video = resolve_recipe(cfg, model_recipe)
    assert resolve_query_recipe(cfg, video) is video
    recipe = FeatureRecipe.from_meta(video)
    assert (recipe.fps, recipe.k, recipe.frame_features,
            recipe.text_tokens) == (fps, 1, 'image_embedding',
                                    'eot_ln_final_projected')


def test_the_tiny_config_uses_the_tests_tiny_clip():
    cfg = Config.fromfile(TINY)
    assert cfg.tiny_clip.to_dict() == H.TINY_CLIP
    assert cfg.test_dataloader.dataset.recipe.model_cfg == H.TINY_CLIP


def _write_data(root: Path) -> Path:
    """Videos and a QVHighlights-format val file: two queries per video,
    each with one window and per-clip scores of three annotators."""
    (root / 'videos').mkdir()
    rows, qid = [], 0
    for vid, seconds in VIDEOS.items():
        H.write_video(root / 'videos' / f'{vid}.mp4', seconds, 5)
        for query, clips in (('a red thing', [1, 2]), ('green', [0])):
            rows.append(
                dict(
                    qid=qid,
                    query=query,
                    duration=float(seconds),
                    vid=vid,
                    relevant_clip_ids=clips,
                    saliency_scores=[[4, 3, 2]] * len(clips),
                    relevant_windows=[[2.0 * clips[0], 2.0 * clips[-1] + 2]]))
            qid += 1
    data = root / 'data'
    data.mkdir()
    (data / 'qvhighlights_val.jsonl').write_text(''.join(
        json.dumps(r) + '\n' for r in rows))
    return data


def test_extract_then_test_without_checkpoint(tmp_path, capsys):
    data = _write_data(tmp_path)
    H.save_tiny_checkpoint(tmp_path / 'clip.pt', seed=3)
    cfg = write_config(
        tmp_path / 'tiny.py', TINY,
        f'test_dataloader = dict(dataset=dict(data_root={str(data)!r}))')
    extract = _tool('data', 'extract_feat.py')
    assert extract.main([
        str(data / 'qvhighlights_val.jsonl'),
        str(tmp_path / 'videos'), '--config',
        str(cfg), '--split', 'test', '--checkpoint',
        str(tmp_path / 'clip.pt'), '--workers', '0'
    ]) == 0
    assert (data / 'clip_b32_vid_k1_image_embedding' / 'va.npy').exists()
    capsys.readouterr()
    dump = tmp_path / 'preds.jsonl'
    _tool('test.py').main(
        [str(cfg), '--work-dir',
         str(tmp_path / 'wd'), '--dump',
         str(dump)])
    lines = [
        ln for ln in capsys.readouterr().out.splitlines()
        if ln.startswith('metrics: ')
    ]
    metrics = json.loads(lines[-1][len('metrics: '):])
    for key in ('MR-full-mAP', 'MR-full-R1@0.5', 'HL-min-VeryGood-mAP',
                'HL-min-VeryGood-Hit1'):
        assert 0 <= metrics[f'qvhighlights/{key}'] <= 100, key
    preds = [json.loads(ln) for ln in dump.read_text().splitlines()]
    assert len(preds) == 2 * len(VIDEOS)
    # the stores' path and the inferencer's path on the videos agree
    infer = MomentRetrievalInferencer(
        cfg, None, clip_checkpoint=tmp_path / 'clip.pt')
    for pred in preds:
        got = infer(
            tmp_path / 'videos' / f"{pred['vid']}.mp4",
            pred['query'],
            duration=VIDEOS[pred['vid']])[0]
        assert got['pred_saliency_scores'] == pytest.approx(
            pred['pred_saliency_scores'], abs=1e-5)
        assert [w[:2] for w in got['pred_relevant_windows']
                ] == [w[:2] for w in pred['pred_relevant_windows']]
