"""TSTLMixupCutmixBlending: TSTL's batch-mode Mixup / CutMix
(util_tools/mixup.py), checked against hand computations."""
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import vtg_tstl  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tstl.models.blending import TSTLMixupCutmixBlending, mix_targets


def samples_with(labels):
    return [ActionDataSample().set_gt_label(int(v)) for v in labels]


def smoothed(label, num_classes, eps):
    row = torch.full((num_classes, ), eps / num_classes)
    row[label] = 1 - eps + eps / num_classes
    return row


def test_mixup_pairs_mirror_samples_and_smooths_targets():
    x = torch.arange(
        4 * 3 * 2 * 5 * 5, dtype=torch.float32).reshape(4, 1, 3, 2, 5, 5)
    labels = [0, 2, 1, 2]
    blend = TSTLMixupCutmixBlending(num_classes=3, prob=1.0, switch_prob=0.0)
    np.random.seed(3)
    mixed, samples = blend(x.clone(), samples_with(labels))
    np.random.seed(3)
    assert np.random.rand() < 1.0
    assert not np.random.rand() < 0.0  # switch: mixup
    lam = np.random.beta(0.8, 0.8)
    for i, j in ((0, 3), (1, 2), (2, 1), (3, 0)):  # flip, not randperm
        torch.testing.assert_close(mixed[i], lam * x[i] + (1 - lam) * x[j])
        target = (
            lam * smoothed(labels[i], 3, 0.1) +
            (1 - lam) * smoothed(labels[j], 3, 0.1))
        torch.testing.assert_close(samples[i].gt_label, target)
        assert samples[i].gt_label.sum().item() == pytest.approx(1.0)
    # numbers spelled out for sample 0 (label 0, paired with label 2)
    on, off = 0.9 + 0.1 / 3, 0.1 / 3
    torch.testing.assert_close(
        samples[0].gt_label,
        torch.tensor(
            [lam * on + (1 - lam) * off, off, lam * off + (1 - lam) * on]))


def test_cutmix_box_over_height_width_with_corrected_lam():
    torch.manual_seed(0)
    B, C, T, H, W = 2, 3, 4, 10, 16
    x = torch.randn(B, 1, C, T, H, W)
    blend = TSTLMixupCutmixBlending(num_classes=5, prob=1.0, switch_prob=1.0)
    seed = 11
    np.random.seed(seed)
    mixed, lam, box = blend.mix_inputs(x)
    # the same draws by hand: mix?, cutmix?, Beta(1, 1), centre y, centre x
    np.random.seed(seed)
    np.random.rand(), np.random.rand()
    lam0 = np.random.beta(1.0, 1.0)
    cy, cx = np.random.randint(0, H), np.random.randint(0, W)
    cut_h, cut_w = int(H * np.sqrt(1 - lam0)), int(W * np.sqrt(1 - lam0))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, H)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, W)
    assert box == (y0, y1, x0, x1)
    assert 0 < (y1 - y0) * (x1 - x0) < H * W  # a real, partial box
    assert lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (H * W))
    inside = torch.zeros(H, W, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    for i, j in ((0, 1), (1, 0)):
        # every channel and frame: the partner's pixels inside the box
        assert torch.equal(mixed[i][..., inside], x[j][..., inside])
        assert torch.equal(mixed[i][..., ~inside], x[i][..., ~inside])
    # without correct_lam the Beta draw is kept
    np.random.seed(seed)
    blend.correct_lam = False
    assert blend.mix_inputs(x)[1] == pytest.approx(lam0)


def test_no_mixing_keeps_inputs_and_smooths_labels():
    x = torch.randn(2, 1, 3, 2, 4, 4)
    blend = TSTLMixupCutmixBlending(num_classes=4, prob=0.0)
    mixed, samples = blend(x.clone(), samples_with([3, 1]))
    assert torch.equal(mixed, x)
    torch.testing.assert_close(samples[0].gt_label, smoothed(3, 4, 0.1))
    torch.testing.assert_close(samples[1].gt_label, smoothed(1, 4, 0.1))


def test_draw_probabilities():
    np.random.seed(0)
    blend = TSTLMixupCutmixBlending(num_classes=4, prob=0.5, switch_prob=0.0)
    draws = [blend.draw() for _ in range(4000)]
    mixed = [lam for lam, _ in draws if lam != 1.0]
    assert len(mixed) / 4000 == pytest.approx(0.5, abs=0.03)
    assert not any(cut for _, cut in draws)
    # Beta(0.8, 0.8) has mean 0.5 and variance 1 / 10.4
    assert np.mean(mixed) == pytest.approx(0.5, abs=0.02)
    assert np.var(mixed) == pytest.approx(1 / 10.4, abs=0.01)
    blend = TSTLMixupCutmixBlending(num_classes=4, prob=1.0, switch_prob=0.3)
    cuts = [blend.draw()[1] for _ in range(4000)]
    assert np.mean(cuts) == pytest.approx(0.3, abs=0.03)


def test_composition_mixes_noun_and_verb_with_one_lam():
    x = torch.randn(2, 1, 3, 2, 4, 4)
    samples = []
    for noun, verb in ((5, 96), (299, 0)):
        sample = ActionDataSample().set_gt_label(7)
        sample.set_field(noun, 'noun_label')  # as PackActionInputs stores it
        sample.set_field(verb, 'verb_label')
        samples.append(sample)
    blend = TSTLMixupCutmixBlending(
        num_classes=1, prob=1.0, switch_prob=0.0, composition=True)
    np.random.seed(5)
    mixed, samples = blend(x.clone(), samples)
    np.random.seed(5)
    np.random.rand(), np.random.rand()
    lam = np.random.beta(0.8, 0.8)
    torch.testing.assert_close(mixed[0], lam * x[0] + (1 - lam) * x[1])
    torch.testing.assert_close(
        samples[0].noun_label,
        lam * smoothed(5, 300, 0.1) + (1 - lam) * smoothed(299, 300, 0.1))
    torch.testing.assert_close(
        samples[1].verb_label,
        lam * smoothed(0, 97, 0.1) + (1 - lam) * smoothed(96, 97, 0.1))
    assert samples[0].gt_label.tolist() == [7]  # left alone


def test_built_by_action_data_preprocessor_for_training_only():
    init_default_scope('vtg_plugins')
    preprocessor = MODELS.build(
        dict(
            type='ActionDataPreprocessor',
            format_shape='NCTHW',
            blending=dict(
                type='TSTLMixupCutmixBlending',
                num_classes=3,
                prob=1.0,
                switch_prob=0.0,
                label_smoothing=0.1)))
    assert isinstance(preprocessor.blending, TSTLMixupCutmixBlending)
    inputs = [torch.rand(1, 3, 2, 4, 4) * 255 for _ in range(2)]
    data = dict(inputs=inputs, data_samples=samples_with([0, 1]))
    out = preprocessor(data, training=False)
    assert torch.equal(out['inputs'], torch.stack(inputs))
    assert out['data_samples'][0].gt_label.tolist() == [0]
    out = preprocessor(
        dict(inputs=inputs, data_samples=samples_with([0, 1])), training=True)
    assert out['data_samples'][0].gt_label.shape == (3, )
    assert not torch.equal(out['inputs'], torch.stack(inputs))


def test_one_hot_contract_of_mmaction():
    # BaseMiniBatchBlending.do_blending (as RandomBatchAugment calls it)
    x = torch.randn(2, 1, 3, 2, 4, 4)
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 2]), 3)
    blend = TSTLMixupCutmixBlending(num_classes=3, prob=1.0, switch_prob=0.0)
    np.random.seed(1)
    mixed_a, targets = blend.do_blending(x.clone(), one_hot)
    np.random.seed(1)
    mixed_b, samples = blend(x.clone(), samples_with([1, 2]))
    assert torch.equal(mixed_a, mixed_b)
    assert torch.equal(targets, torch.stack([s.gt_label for s in samples]))
    assert torch.equal(mix_targets(one_hot, 1.0, 0.0), one_hot.float())


def test_bad_input_is_an_error():
    blend = TSTLMixupCutmixBlending(num_classes=3)
    with pytest.raises(ValueError, match='even batch size'):
        blend(torch.zeros(3, 1, 3, 2, 4, 4), samples_with([0, 1, 2]))
    with pytest.raises(ValueError, match=r'gt_label 3 is outside \[0, 3\)'):
        blend(torch.zeros(2, 1, 3, 2, 4, 4), samples_with([0, 3]))
    compo = TSTLMixupCutmixBlending(num_classes=1, composition=True)
    with pytest.raises(KeyError, match='data sample 0 has no noun_label'):
        compo(torch.zeros(2, 1, 3, 2, 4, 4), samples_with([0, 0]))
    with pytest.raises(ValueError, match='one of mixup_alpha'):
        TSTLMixupCutmixBlending(num_classes=3, mixup_alpha=0, cutmix_alpha=0)
