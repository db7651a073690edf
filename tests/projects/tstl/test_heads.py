"""TSTLFusedHead and TSTLCompoHead: losses with hard, soft and smoothed
labels, the feature-loss hook, the official init and multi-view predict
through MMAction2's Recognizer3D."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.structures import ActionDataSample
from mmengine.registry import DefaultScope

import vtg_tstl  # noqa: F401
from vtg_plugins.registry import MODELS
from vtg_tstl.models import TSTLCompoHead, TSTLFusedHead

D = 16


@MODELS.register_module(name='_TSTLTestFeatureLoss', force=True)
class RecordingFeatureLoss(nn.Module):
    """A stand-in feature loss: records its inputs, returns their mean."""

    calls: list = []

    def forward(self, features, labels):
        RecordingFeatureLoss.calls.append((features.detach(), labels))
        return features.mean() + 7.0


def randomize(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def feats(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, generator=g), torch.randn(n, D, generator=g)


def samples(labels, field='gt_label'):
    out = []
    for label in labels:
        s = ActionDataSample()
        if field == 'gt_label':
            s.set_gt_label(label)
        else:
            s.set_field(torch.as_tensor(label), field)
        out.append(s)
    return out


def adapter(a, x):
    """An adapter without skip, written out."""
    return F.linear(
        F.gelu(F.linear(x, a.D_fc1.weight, a.D_fc1.bias)), a.D_fc2.weight,
        a.D_fc2.bias)


def fused_scores(head, x):
    fused = adapter(head.noun_last_adapter, x[0]) + adapter(
        head.verb_last_adapter, x[1])
    return F.linear(fused, head.fc_cls.weight, head.fc_cls.bias), fused


def soft_ce(scores, target):
    return -(target * scores.log_softmax(-1)).sum(-1).mean()


def fused_head(**kw):
    head = TSTLFusedHead(num_classes=5, in_channels=D, topk=(1, 2), **kw)
    randomize(head)
    return head


def test_fused_loss_hard_labels():
    head, x = fused_head(), feats(4)
    labels = [0, 3, 4, 1]
    losses = head.loss(x, samples(labels))
    scores, _ = fused_scores(head, x)
    want = F.cross_entropy(scores, torch.tensor(labels))
    torch.testing.assert_close(losses['loss_cls'], want)
    top1 = (scores.argmax(-1) == torch.tensor(labels)).float().mean()
    torch.testing.assert_close(losses['top1_acc'].float(), top1)
    assert set(losses) == {'loss_cls', 'top1_acc', 'top2_acc'}


def test_fused_loss_soft_and_smoothed_labels():
    head, x = fused_head(), feats(3)
    soft = torch.zeros(3, 5)
    soft[0, [1, 2]] = torch.tensor([0.7, 0.3])
    soft[1, [0, 4]] = torch.tensor([0.4, 0.6])
    soft[2, 3] = 1.0
    scores, _ = fused_scores(head, x)
    losses = head.loss(x, samples(list(soft)))
    torch.testing.assert_close(losses['loss_cls'], soft_ce(scores, soft))
    assert 'top1_acc' not in losses  # accuracy needs hard labels

    smooth = fused_head(label_smooth_eps=0.1)
    scores, _ = fused_scores(smooth, x)
    hard = torch.tensor([2, 0, 4])
    target = 0.9 * F.one_hot(hard, 5) + 0.1 / 5
    torch.testing.assert_close(
        smooth.loss(x, samples(hard.tolist()))['loss_cls'],
        soft_ce(scores, target))


def test_labels_outside_the_classes_are_refused():
    head = fused_head()
    with pytest.raises(
            ValueError, match=r'data sample 1: gt_label 5 is '
            r'outside \[0, 5\)'):
        head.loss(feats(2), samples([0, 5]))
    with pytest.raises(ValueError, match='soft gt_label of shape'):
        head.loss(feats(1), samples([torch.ones(4) / 4]))


def test_feature_loss_gets_fused_features_and_hard_labels():
    head = fused_head(feature_loss=dict(type='_TSTLTestFeatureLoss'))
    x = feats(2)
    soft = torch.tensor([[0.1, 0.0, 0.9, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 0.35, 0.65]])
    RecordingFeatureLoss.calls.clear()
    losses = head.loss(x, samples(list(soft)))
    (features, labels), = RecordingFeatureLoss.calls
    _, fused = fused_scores(head, x)
    torch.testing.assert_close(features, fused)
    assert labels.dtype == torch.long and labels.tolist() == [2, 4]
    torch.testing.assert_close(losses['loss_feature'], fused.mean() + 7.0)
    assert 'loss_cls' in losses


def test_official_head_init():
    torch.manual_seed(0)
    head = TSTLFusedHead(num_classes=50, in_channels=64, init_scale=0.001)
    x = (torch.randn(3, 64), torch.randn(3, 64))
    assert not head(x).any()  # the last adapters start at zero
    assert 1.5e-5 < head.fc_cls.weight.std() < 2.5e-5
    assert 0.015 < head.noun_last_adapter.D_fc1.weight.std() < 0.025
    compo = TSTLCompoHead(in_channels=64, init_scale=0.5)
    assert 0.0075 < compo.fc_noun.weight.std() < 0.0125
    assert not compo.fc_verb.bias.any()


def test_compo_scores_and_loss():
    head = TSTLCompoHead(in_channels=D, topk=(1, ))
    randomize(head)
    clip_feat, vmae_feat = feats(3)
    noun, verb = head((clip_feat, vmae_feat))
    assert noun.shape == (3, 300) and verb.shape == (3, 97)
    torch.testing.assert_close(
        noun, F.linear(clip_feat, head.fc_noun.weight, head.fc_noun.bias))
    torch.testing.assert_close(
        verb, F.linear(vmae_feat, head.fc_verb.weight, head.fc_verb.bias))

    nouns, verbs = [5, 299, 0], [96, 3, 10]
    data = samples(nouns, 'noun_label')
    for s, v in zip(data, verbs):
        s.set_field(torch.tensor([v]), 'verb_label')
    losses = head.loss((clip_feat, vmae_feat), data)
    torch.testing.assert_close(losses['loss_noun'],
                               F.cross_entropy(noun, torch.tensor(nouns)))
    torch.testing.assert_close(losses['loss_verb'],
                               F.cross_entropy(verb, torch.tensor(verbs)))
    assert {'noun_top1_acc', 'verb_top1_acc'} <= set(losses)

    g = torch.Generator().manual_seed(4)
    soft_n = F.softmax(torch.randn(3, 300, generator=g), -1)
    soft_v = F.softmax(torch.randn(3, 97, generator=g), -1)
    data = samples(list(soft_n), 'noun_label')
    for s, v in zip(data, soft_v):
        s.set_field(v, 'verb_label')
    smooth = TSTLCompoHead(in_channels=D, label_smooth_eps=0.2)
    smooth.load_state_dict(head.state_dict())
    losses = smooth.loss((clip_feat, vmae_feat), data)
    torch.testing.assert_close(losses['loss_noun'],
                               soft_ce(noun, 0.8 * soft_n + 0.2 / 300))
    torch.testing.assert_close(losses['loss_verb'],
                               soft_ce(verb, 0.8 * soft_v + 0.2 / 97))


def test_compo_feature_loss_per_task():
    head = TSTLCompoHead(
        in_channels=D, feature_loss=dict(type='_TSTLTestFeatureLoss'))
    clip_feat, vmae_feat = feats(2)
    data = samples([7, 8], 'noun_label')
    soft_v = torch.zeros(2, 97)
    soft_v[0, 4], soft_v[1, 90] = 1.0, 1.0
    for s, v in zip(data, soft_v):
        s.set_field(v, 'verb_label')
    RecordingFeatureLoss.calls.clear()
    losses = head.loss((clip_feat, vmae_feat), data)
    (f_noun, l_noun), (f_verb, l_verb) = RecordingFeatureLoss.calls
    torch.testing.assert_close(f_noun, clip_feat)
    torch.testing.assert_close(f_verb, vmae_feat)
    assert l_noun.tolist() == [7, 8] and l_verb.tolist() == [4, 90]
    torch.testing.assert_close(losses['loss_feature'],
                               clip_feat.mean() + vmae_feat.mean() + 14.0)


def recognizer(head: dict):
    backbone = dict(
        type='TSTLBackbone',
        img_size=16,
        patch_size=8,
        embed_dim=D,
        depth=1,
        num_heads=2,
        num_frames=2,
        tubelet_size=2,
        drop_path_rate=0.0)
    with DefaultScope.overwrite_default_scope('vtg_plugins'):
        model = MODELS.build(
            dict(type='Recognizer3D', backbone=backbone, cls_head=head))
    randomize(model)
    return model.eval()


def _views(n: int, v: int) -> torch.Tensor:
    return torch.randn(
        n, v, 3, 2, 16, 16, generator=torch.Generator().manual_seed(3))


def _per_view(model, inputs):
    """Head scores of each view, one view at a time."""
    with torch.no_grad():
        return [[
            model.cls_head(model.backbone(inputs[i, j:j + 1]))
            for j in range(inputs.shape[1])
        ] for i in range(inputs.shape[0])]


def test_fused_multiview_predict_averages_probabilities():
    model = recognizer(
        dict(
            type='TSTLFusedHead',
            num_classes=6,
            in_channels=D,
            average_clips='prob'))
    inputs = _views(2, 3)
    with torch.no_grad():
        preds = model(inputs, samples([1, 2]), mode='predict')
    for pred, views in zip(preds, _per_view(model, inputs)):
        want = torch.cat([F.softmax(s, -1) for s in views]).mean(0)
        torch.testing.assert_close(pred.pred_score, want, atol=1e-6, rtol=1e-5)
        assert int(pred.pred_label) == int(want.argmax())


def test_compo_multiview_predict_averages_each_task():
    model = recognizer(
        dict(type='TSTLCompoHead', in_channels=D, average_clips='prob'))
    inputs = _views(2, 2)
    with torch.no_grad():
        preds = model(
            inputs, [ActionDataSample() for _ in range(2)], mode='predict')
    for pred, views in zip(preds, _per_view(model, inputs)):
        for task, field in enumerate(('pred_noun_score', 'pred_verb_score')):
            want = torch.cat([F.softmax(s[task], -1) for s in views]).mean(0)
            torch.testing.assert_close(
                getattr(pred, field), want, atol=1e-6, rtol=1e-5)
    assert preds[0].pred_noun_score.shape == (300, )
    assert preds[0].pred_verb_score.shape == (97, )


@pytest.mark.parametrize('head', [
    dict(type='TSTLFusedHead', num_classes=4, in_channels=D),
    dict(type='TSTLCompoHead', in_channels=D)
])
def test_recognizer_loss_mode(head):
    """Recognizer3D passes its extra kwargs (``loss_aux``) to the head."""
    model = recognizer(head).train()
    data = samples([1, 3])
    for s in data:
        s.set_field(torch.tensor(2), 'noun_label')
        s.set_field(torch.tensor(5), 'verb_label')
    losses = model(_views(2, 1), data, mode='loss')
    names = {'loss_cls'} if head['type'] == 'TSTLFusedHead' else {
        'loss_noun', 'loss_verb'
    }
    assert names <= set(losses)
    sum(losses[k] for k in names).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
