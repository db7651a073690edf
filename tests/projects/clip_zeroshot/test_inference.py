"""The baseline through the grounding inference API on a PyAV-written video
and the tiny random-init CLIP: its saliency is open_clip's cosine
similarity, its moments are in the QVHighlights prediction format; the
empty checkpoint of ``tools/write_checkpoint.py`` changes nothing."""
import importlib.util
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F

from vtg_plugins.apis import MomentRetrievalInferencer
from vtg_plugins.features.frames import read_video
from vtg_plugins.testing import feature_pipeline as H

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / 'configs' / 'clip_zeroshot' / \
    'clip-zeroshot_tiny-clip_1xb4_synthetic-qvhighlights.py'
QUERIES = ['a red square appears', 'green']
SECONDS = 16  # 8 clips of 2 s


def _load_tool():
    path = REPO / 'projects' / 'clip_zeroshot' / 'tools' / \
        'write_checkpoint.py'
    spec = importlib.util.spec_from_file_location('write_checkpoint', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('clip_zeroshot')
    H.write_video(root / 'v.mp4', SECONDS, 5)
    clip = H.save_tiny_checkpoint(root / 'clip.pt', seed=1)
    infer = MomentRetrievalInferencer(
        TINY, None, clip_checkpoint=root / 'clip.pt')
    return root, clip, infer


def test_saliency_is_open_clips_cosine_similarity(setup):
    root, clip, infer = setup
    preds = infer(root / 'v.mp4', QUERIES)
    frames = read_video(root / 'v.mp4', 0.5, 224)
    with torch.no_grad():
        images = clip.encode_image(H.normalize(frames))
        texts = clip.encode_text(open_clip.tokenize(QUERIES))
    for pred, text in zip(preds, texts):
        want = F.cosine_similarity(images, text[None], dim=-1)
        assert len(pred['pred_saliency_scores']) == len(frames) == 8
        torch.testing.assert_close(
            torch.tensor(pred['pred_saliency_scores']),
            want,
            rtol=0,
            atol=1e-5)
    assert preds[0]['pred_saliency_scores'] != preds[1]['pred_saliency_scores']


def test_predictions_are_in_the_qvhighlights_format(setup):
    root, _, infer = setup
    preds = infer(root / 'v.mp4', QUERIES)
    assert [p['query'] for p in preds] == QUERIES
    for pred in preds:
        assert pred['vid'] == 'v'
        assert pred['duration'] == pytest.approx(SECONDS, abs=0.5)
        windows = pred['pred_relevant_windows']
        assert 1 <= len(windows) <= 10
        for start, end, _ in windows:
            assert 0 <= start < end <= pred['duration']
            # clip boundaries: windows are runs of whole 2-s clips
            assert start % 2 == 0 and (end % 2 == 0 or end == pred['duration'])
        scores = [w[2] for w in windows]
        assert scores == sorted(scores, reverse=True)
    # the recipe the inferencer resolved and encodes with
    assert infer.video_recipe['frame_features'] == 'image_embedding'
    assert infer.query_extractor is infer.video_extractor  # one CLIP


def test_the_empty_checkpoint_loads_and_changes_nothing(setup, capsys):
    root, _, infer = setup
    tool = _load_tool()
    assert tool.main([str(TINY), str(root / 'zs.pth')]) == 0
    assert torch.load(root / 'zs.pth')['state_dict'] == {}
    with_ckpt = MomentRetrievalInferencer(
        TINY, root / 'zs.pth', clip_checkpoint=root / 'clip.pt')
    assert with_ckpt(root / 'v.mp4', QUERIES) == infer(root / 'v.mp4', QUERIES)
    smoke = REPO / 'configs' / 'smoke' / 'smoke_linear_1xb4-4e_synthetic.py'
    assert tool.main([str(smoke), str(root / 'smoke.pth')]) == 1
    assert 'only writes the checkpoint of a parameter-free model' in \
        capsys.readouterr().err
    assert not (root / 'smoke.pth').exists()
