"""The zero-shot baseline's model: saliency = cosine similarity, the window
rule (contrast windows + hard NMS), its modes and its errors."""
import itertools
import math

import pytest
import torch
from mmengine.structures import BaseDataElement

from vtg_clip_zeroshot.models import (CLIPZeroShotGrounder, contrast_windows,
                                      select_moments)


def _embeddings(saliency, dim=8, seed=0):
    """Video rows whose cosine with the query is ``saliency`` exactly (at
    random norms) and the query ``[1, dim]`` (not unit)."""
    gen = torch.Generator().manual_seed(seed)
    sal = torch.as_tensor(saliency, dtype=torch.float64)
    basis = torch.linalg.qr(
        torch.randn(dim, dim, generator=gen, dtype=torch.float64))[0]
    e0, e1 = basis[:, 0], basis[:, 1]
    rows = sal[:, None] * e0 + (1 - sal[:, None]**2).sqrt() * e1
    norms = 0.5 + torch.rand(len(sal), 1, generator=gen, dtype=torch.float64)
    return (rows * norms).float(), (3 * e0[None]).float()


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def test_saliency_is_the_cosine_and_the_planted_bump_is_found():
    sal = [0.1, 0.12, 0.08, 0.11, 0.62, 0.58, 0.6, 0.61, 0.09, 0.1, 0.12, 0.1]
    video, query = _embeddings(sal)
    model = CLIPZeroShotGrounder()
    sample = BaseDataElement(metainfo=dict(qid=7, fps=0.5, duration=24.0))
    out = model.predict(dict(video=[video.half()], query=[query]), [sample])[0]
    assert out is sample and out.qid == 7
    torch.testing.assert_close(
        torch.tensor(out.pred_saliency_scores),
        torch.tensor(sal),
        atol=2e-3,
        rtol=0)  # fp16 video embeddings
    windows = out.pred_relevant_windows
    assert windows[0][:2] == [8.0, 16.0]  # clips 4..7, 2-s clips
    assert len(windows) == 10
    scores = [w[2] for w in windows]
    assert scores == sorted(scores, reverse=True)
    assert all(_iou(windows[0], w) < 0.7 for w in windows[1:])
    assert all(0 <= w[0] < w[1] <= 24.0 for w in windows)


def test_contrast_scores_equal_a_brute_force_count():
    sal = torch.tensor([0.3, -0.2, 0.5, 0.1, 0.9, 0.0, 0.4])
    spans, score = contrast_windows(sal, max_window_clips=4)
    assert len(spans) == 7 + 6 + 5 + 4
    vals = sal.tolist()
    for (a, b), got in zip(spans.tolist(), score.tolist()):
        inside = vals[a:b]
        outside = vals[:a] + vals[b:]
        want = sum(inside) / len(inside) - sum(outside) / len(outside)
        assert got == pytest.approx(want, abs=1e-6), (a, b)
    assert {tuple(s)
            for s in spans.tolist()
            } == {(a, a + n)
                  for n, a in itertools.product(range(1, 5), range(7))
                  if a + n <= 7}


def test_the_whole_video_window_scores_zero():
    spans, score = contrast_windows(torch.tensor([0.2, 0.7, 0.4]))
    whole = spans.tolist().index([0, 3])
    assert score[whole] == 0 and len(spans) == 6
    spans, score = contrast_windows(torch.tensor([0.5]))
    assert spans.tolist() == [[0, 1]] and score.tolist() == [0.0]
    with pytest.raises(ValueError, match=r'saliency must be \[T\]'):
        contrast_windows(torch.zeros(0))
    with pytest.raises(ValueError, match='max_window_clips must be >= 1'):
        contrast_windows(torch.zeros(3), 0)


def test_selection_clamps_and_suppresses_overlaps():
    rows = torch.tensor([[0., 10., 0.9], [1., 10., 0.8], [20., 30., 0.7],
                         [28., 34., 0.6], [34., 40., 0.5]])
    out = select_moments(rows, duration=31.0, nms_thres=0.7, max_num_moment=10)
    # [1, 10] overlaps [0, 10] at IoU 0.9; [34, 40] lies past the video
    torch.testing.assert_close(
        out, torch.tensor([[0., 10., 0.9], [20., 30., 0.7], [28., 31., 0.6]]))
    top = select_moments(rows, 31.0, 0.7, max_num_moment=1)
    torch.testing.assert_close(top, torch.tensor([[0., 10., 0.9]]))
    with pytest.raises(ValueError, match=r'windows must be \[N, 3\]'):
        select_moments(rows[:, :2], 31.0, 0.7, 5)


def test_batches_lists_padding_and_candidates_agree():
    model = CLIPZeroShotGrounder(test_cfg=dict(max_window_clips=3))
    v1, q1 = _embeddings([0.1, 0.5, 0.6, 0.2, 0.1], seed=1)
    v2, q2 = _embeddings([0.3, 0.1, 0.7], seed=2)
    samples = [dict(qid=1, fps=1.0, duration=5.0), dict(qid=2, fps=1.0)]
    lists = dict(video=[v1, v2], query=[q1, q2])
    tensors = model(lists, mode='tensor')
    assert tensors['saliency'].shape == (2, 5)
    assert tensors['video_mask'].tolist() == [[True] * 5,
                                              [True] * 3 + [False] * 2]
    assert tensors['saliency'][1, 3:].tolist() == [0, 0]
    padded = torch.zeros(2, 5, 8)
    padded[0], padded[1, :3] = v1, v2
    again = model(
        dict(
            video=padded,
            query=torch.cat([q1, q2]),
            video_mask=tensors['video_mask']),
        mode='tensor')
    torch.testing.assert_close(again['saliency'], tensors['saliency'])
    preds = model.predict(lists, samples)
    # one sample alone gives what it gives in a batch
    alone = model.predict(dict(video=[v2], query=[q2]), [samples[1]])[0]
    assert alone['pred_relevant_windows'] == preds[1]['pred_relevant_windows']
    # predict = merge_candidates of predict_candidates (one window)
    for cand, pred, duration in zip(
            model.predict_candidates(lists, samples), preds, (5.0, 3.0)):
        assert cand['windows'].shape == (5 + 4 + 3 if duration == 5 else 3 +
                                         2 + 1, 3)
        merged = model.merge_candidates(cand, duration).tolist()
        assert merged == pred['pred_relevant_windows']
        assert max(w[1] - w[0] for w in merged) <= 3.0  # max_window_clips
    assert preds[0]['qid'] == 1 and 'pred_saliency_scores' in preds[0]


def test_inputs_of_another_recipe_are_refused():
    model = CLIPZeroShotGrounder()
    video, query = _embeddings([0.1, 0.2])
    fps = [dict(fps=0.5)]
    with pytest.raises(
            ValueError, match='video features have 8 channels, '
            'the query 4'):
        model.predict(dict(video=[video], query=[query[:, :4]]), fps)
    with pytest.raises(
            ValueError,
            match=r'query features must be one text '
            r'embedding \[1, E\].*eot_ln_final_projected.*got '
            r'shape \(5, 8\)'):
        model.predict(dict(video=[video], query=[query.repeat(5, 1)]), fps)
    with pytest.raises(ValueError, match=r'video features must be \[T, E\]'):
        model.predict(dict(video=[video[0]], query=[query]), fps)
    with pytest.raises(KeyError, match="data sample 0 .*lacks fps"):
        model.predict(dict(video=[video], query=[query]), [dict(qid=3)])
    with pytest.raises(ValueError, match='1 samples, None data samples'):
        model.predict(dict(video=[video], query=[query]))
    with pytest.raises(RuntimeError, match='no parameters to train'):
        model(dict(video=[video], query=[query]), fps, mode='loss')


def test_test_cfg_and_recipe():
    model = CLIPZeroShotGrounder(arch='ViT-L/14-336')
    assert model.input_feature_recipe() == dict(
        backbone='ViT-L/14-336px',
        k=1,
        frame_features='image_embedding',
        text_tokens='eot_ln_final_projected')
    assert model.max_input_clips is None
    assert len(model.state_dict()) == 0
    assert not any(True for _ in model.parameters())
    with pytest.raises(ValueError, match=r"unknown test_cfg keys \['nms'\]"):
        CLIPZeroShotGrounder(test_cfg=dict(nms=0.5))
    with pytest.raises(ValueError, match=r'nms_thres must lie in \(0, 1\]'):
        CLIPZeroShotGrounder.validate_args(dict(test_cfg=dict(nms_thres=0)))
    with pytest.raises(ValueError, match='max_window_clips must be an int'):
        CLIPZeroShotGrounder(test_cfg=dict(max_window_clips=0))
    with pytest.raises(ValueError, match='max_num_moment must be an int'):
        CLIPZeroShotGrounder(test_cfg=dict(max_num_moment=math.inf))
