import math

import numpy as np
import pytest
import torch

from vtg_plugins.models.nms import batched_nms_1d, nms_1d, seg_voting, \
    soft_nms_1d


def softnms_reference(segs, scores, iou_threshold, sigma, min_score, method):
    """Line-by-line transliteration of ``softnms_1d_cpu`` (nms_cpu.cpp of
    ActionFormer / GroundNLQ) with float32 scalars."""
    f32 = np.float32
    x1 = [f32(v) for v in segs[:, 0].tolist()]
    x2 = [f32(v) for v in segs[:, 1].tolist()]
    sc = [f32(v) for v in scores.tolist()]
    areas = [f32(b - a + f32(1e-6)) for a, b in zip(x1, x2)]
    inds = list(range(len(x1)))
    dets = []
    n = len(x1)
    i = 0
    while i < n:
        max_score, max_pos = sc[i], i
        for pos in range(i + 1, n):
            if max_score < sc[pos]:
                max_score, max_pos = sc[pos], pos
        ix1, ix2, isc = x1[max_pos], x2[max_pos], sc[max_pos]
        iarea, iind = areas[max_pos], inds[max_pos]
        dets.append((ix1, ix2, isc))
        for arr in (x1, x2, sc, areas, inds):
            arr[max_pos] = arr[i]
        x1[i], x2[i], sc[i], areas[i], inds[i] = ix1, ix2, isc, iarea, iind
        pos = i + 1
        while pos < n:
            inter = max(f32(0), f32(min(ix2, x2[pos]) - max(ix1, x1[pos])))
            ovr = f32(inter / f32(iarea + areas[pos] - inter))
            weight = f32(1)
            if method == 0 and ovr >= iou_threshold:
                weight = f32(0)
            elif method == 1 and ovr >= iou_threshold:
                weight = f32(1) - ovr
            elif method == 2:
                weight = f32(math.exp(-(ovr * ovr) / f32(sigma)))
            sc[pos] = f32(sc[pos] * weight)
            if sc[pos] < min_score:
                for arr in (x1, x2, sc, areas, inds):
                    arr[pos] = arr[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return np.array(dets, dtype=np.float32).reshape(-1, 3), inds[:n]


def random_candidates(seed, n=60):
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(n, generator=g) * 50
    segs = torch.stack([start, start + 0.5 + torch.rand(n, generator=g) * 20],
                       1)
    scores = torch.rand(n, generator=g) * 0.5
    scores[::7] = scores[3]  # exact ties decided by the swap order
    scores[::11] = 0.0005  # below min_score from the start
    return segs, scores


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('method', ['gaussian', 'linear', 'hard'])
def test_soft_nms_matches_cpp_loop(seed, method):
    segs, scores = random_candidates(seed)
    code = {'hard': 0, 'linear': 1, 'gaussian': 2}[method]
    ref_dets, ref_inds = softnms_reference(segs.numpy(), scores.numpy(), 0.1,
                                           0.75, 0.001, code)
    out_segs, out_scores, out_inds = soft_nms_1d(segs, scores, 0.1, 0.75,
                                                 0.001, method)
    assert out_inds.tolist() == ref_inds
    torch.testing.assert_close(out_segs, torch.from_numpy(ref_dets[:, :2]))
    torch.testing.assert_close(
        out_scores, torch.from_numpy(ref_dets[:, 2]), rtol=1e-6, atol=1e-7)
    # stopping after 5 selections gives the same first 5
    top_segs, top_scores, top_inds = soft_nms_1d(
        segs, scores, 0.1, 0.75, 0.001, method, max_num=5)
    assert top_inds.tolist() == ref_inds[:5]
    torch.testing.assert_close(top_scores, out_scores[:5])


def test_soft_nms_gaussian_by_hand():
    segs = torch.tensor([[0., 10.], [0., 10.], [20., 30.], [0., 10.]])
    scores = torch.tensor([0.9, 0.8, 0.5, 0.0015])
    out_segs, out_scores, inds = soft_nms_1d(segs, scores, 0.1, 0.75, 0.001)
    decay = math.exp(-1 / 0.75)  # IoU of identical windows is 1
    # the fourth copy decays to 0.0015 * 0.264 < min_score and is dropped
    assert inds.tolist() == [0, 2, 1]
    torch.testing.assert_close(out_scores,
                               torch.tensor([0.9, 0.5, 0.8 * decay]))
    assert out_segs.tolist() == [[0., 10.], [20., 30.], [0., 10.]]


def test_hard_nms_by_hand():
    segs = torch.tensor([[0., 10.], [1., 10.], [9., 20.], [30., 40.]])
    scores = torch.tensor([0.5, 0.9, 0.4, 0.3])
    # [1,10] wins; [0,10] has IoU 0.9 with it -> dropped; [9,20] IoU 1/19
    assert nms_1d(segs, scores, 0.1).tolist() == [1, 2, 3]
    assert nms_1d(segs, scores, 0.1, max_num=2).tolist() == [1, 2]


def test_batched_nms_multiclass_and_truncation():
    segs = torch.tensor([[0., 10.], [0., 10.], [0., 10.], [50., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.1])
    labels = torch.tensor([1, 0, 1, 0])
    out_segs, out_scores, out_labels = batched_nms_1d(
        segs, scores, labels, 0.1, 0.001, 3, sigma=0.75)
    decay = math.exp(-1 / 0.75)
    # class 1: 0.9, 0.7 * decay; class 0: 0.8, 0.1 -> merged, top 3
    torch.testing.assert_close(out_scores,
                               torch.tensor([0.9, 0.8, 0.7 * decay]))
    assert out_labels.tolist() == [1, 0, 1]
    empty = batched_nms_1d(segs[:0], scores[:0], labels[:0], 0.1, 0.001, 5)
    assert [t.shape[0] for t in empty] == [0, 0, 0]


def test_class_agnostic_with_voting():
    segs = torch.tensor([[0., 10.], [1., 11.], [40., 50.]])
    scores = torch.tensor([0.6, 0.3, 0.2])
    labels = torch.zeros(3, dtype=torch.long)
    out_segs, out_scores, _ = batched_nms_1d(
        segs,
        scores,
        labels,
        0.1,
        0.001,
        5,
        use_soft_nms=False,
        multiclass=False,
        voting_thresh=0.5)
    # [1,11] is suppressed (IoU 9/11) but votes: weights 0.6*1, 0.3*9/11
    w0, w1 = 0.6, 0.3 * 9 / 11
    expected0 = (w0 * torch.tensor([0., 10.]) +
                 w1 * torch.tensor([1., 11.])) / (
                     w0 + w1)
    torch.testing.assert_close(out_segs[0], expected0)
    torch.testing.assert_close(out_segs[1], torch.tensor([40., 50.]))
    torch.testing.assert_close(
        seg_voting(segs[2:], segs, scores, 0.5), torch.tensor([[40., 50.]]))


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match='soft NMS method'):
        soft_nms_1d(torch.zeros(1, 2), torch.ones(1), 0.1, 0.5, 0.0, 'bad')
