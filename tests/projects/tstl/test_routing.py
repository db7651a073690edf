"""TSTLRoutedRecognizer: routing, max-logit and weighted votes and the view
merge against numpy hand computations, checkpoints loaded at build (also
under Runner.test() without load_from), one normalisation, and the errors.

The stand-in recognizers are ``Recognizer3D`` with a channel-mean backbone
registered here, so every logit is a known affine function of the
normalised inputs: the selector's head is ``10 * I`` (a view goes to the
group of its brightest channel), expert ``g``'s head is ``W[g] m + b[g]``.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmaction.structures import ActionDataSample
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import vtg_tstl  # noqa: F401  (the project and the MMAction2 stack)
from vtg_plugins.registry import MODELS

G, C = 3, 5  # groups / experts, classes
MEAN, STD = np.array([10.0, 20.0, 30.0]), np.array([2.0, 4.0, 5.0])
RNG = np.random.default_rng(0)
EXPERT_W = RNG.normal(size=(G, C, 3))
EXPERT_B = RNG.normal(size=(G, C))


@pytest.fixture(autouse=True)
def scope():
    """The configs' ``default_scope`` (MMEngine's BaseModel builds the data
    preprocessors in the default scope)."""
    with DefaultScope.overwrite_default_scope('vtg_plugins'):
        yield


@MODELS.register_module(force=True)
class RouteTestChannelMean(BaseModule):
    """``[N, 3, T, H, W]`` -> ``[N, 3]`` channel means through a linear layer
    (identity in the checkpoints)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, x):
        return self.proj(x.mean(dim=(2, 3, 4)))


def _recognizer(num_classes):
    return dict(
        type='Recognizer3D',
        backbone=dict(type='RouteTestChannelMean'),
        cls_head=dict(
            type='TimeSformerHead',
            num_classes=num_classes,
            in_channels=3,
            average_clips='prob'),
        # never used by the routed model: a second normalisation would
        # shift every input by 1000
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=[1000.0] * 3,
            std=[1.0] * 3,
            format_shape='NCTHW'))


def _save(cfg, head_w, head_b, path):
    model = MODELS.build(cfg)
    with torch.no_grad():
        model.backbone.proj.weight.copy_(torch.eye(3))
        model.backbone.proj.bias.zero_()
        model.cls_head.fc_cls.weight.copy_(torch.as_tensor(head_w))
        model.cls_head.fc_cls.bias.copy_(torch.as_tensor(head_b))
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return str(path)


@pytest.fixture
def ckpts(tmp_path):
    sel = _save(
        _recognizer(G), 10 * np.eye(3), np.zeros(G), tmp_path / 'selector.pth')
    experts = [
        _save(
            _recognizer(C), EXPERT_W[g], EXPERT_B[g],
            tmp_path / f'expert-{g}.pth') for g in range(G)
    ]
    grouping = tmp_path / 'grouping.json'
    grouping.write_text(
        json.dumps(
            dict(class_to_head={
                '0': 0,
                '1': 0,
                '2': 1,
                '3': 1,
                '4': 2
            })))
    return dict(
        selector=sel,
        experts=experts,
        grouping=str(grouping),
        pattern=str(tmp_path / 'expert-{}.pth'))


def _cfg(ckpts, **kw):
    cfg = dict(
        type='TSTLRoutedRecognizer',
        selector=_recognizer(G),
        experts=_recognizer(C),
        selector_checkpoint=ckpts['selector'],
        expert_checkpoints=ckpts['experts'],
        grouping=ckpts['grouping'],
        data_preprocessor=dict(
            type='ActionDataPreprocessor',
            mean=MEAN.tolist(),
            std=STD.tolist(),
            format_shape='NCTHW'))
    cfg.update(kw)
    return cfg


def _build(cfg):
    return MODELS.build(cfg).eval()


def _video(channel_means):
    """Raw ``[V, 3, 2, 4, 4]`` views whose normalised channel means are
    ``channel_means`` ([V, 3]), with pixel noise that averages out."""
    views = []
    for m in channel_means:
        raw = torch.as_tensor(np.asarray(m) * STD + MEAN).float()
        noise = torch.randn(
            3, 2, 4, 4, generator=torch.Generator().manual_seed(len(views)))
        noise -= noise.mean(dim=(1, 2, 3), keepdim=True)
        views.append(raw[:, None, None, None] + noise)
    return torch.stack(views)


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def hand_route(channel_means, top_k, vote):
    """Per view: the expert logits, voted; the video score: mean softmax."""
    routed, groups = [], []
    for m in np.asarray(channel_means, dtype=np.float64):
        sel = 10 * m
        weights = _softmax(sel)
        chosen = np.argsort(-sel, kind='stable')[:top_k]
        logits = [(EXPERT_W[g] @ m + EXPERT_B[g]) *
                  (weights[g] if vote == 'weighted' else 1.0) for g in chosen]
        routed.append(np.max(logits, axis=0))
        groups.append(int(np.argmax(sel)))
    score = np.mean([_softmax(r) for r in routed], axis=0)
    return np.array(routed), score, groups


VIDEOS = [
    [[1.0, 0.2, -0.5], [0.1, -0.3, 0.9]],  # views to experts 0 and 2
    [[0.2, 0.25, 0.1], [0.3, 0.2, 0.28]],  # close selector logits
    [[-1.0, 0.5, 0.4], [0.0, 0.6, 0.1]],  # both to expert 1
]


def _batch(videos=VIDEOS):
    return dict(
        inputs=[_video(v) for v in videos],
        data_samples=[
            ActionDataSample().set_gt_label(i) for i in range(len(videos))
        ])


@pytest.mark.parametrize('top_k, vote', [(1, 'max_logit'), (2, 'max_logit'),
                                         (1, 'weighted'), (2, 'weighted'),
                                         (3, 'weighted')])
def test_votes_and_view_merge_match_hand_computation(ckpts, top_k, vote):
    model = _build(_cfg(ckpts, top_k=top_k, vote=vote))
    with torch.no_grad():
        samples = model.test_step(_batch())
    for video, sample in zip(VIDEOS, samples):
        _, score, groups = hand_route(video, top_k, vote)
        np.testing.assert_allclose(
            sample.pred_score.numpy(), score, rtol=1e-4, atol=1e-6)
        assert sample.pred_label.item() == int(np.argmax(score))
        assert sample.pred_group.tolist() == groups
        assert sample.pred_group_score.shape == (G, )
    assert [s.pred_group.tolist() for s in samples] == [[0, 2], [1, 0], [1, 1]]


def test_tensor_mode_gives_routed_and_selector_logits(ckpts):
    model = _build(_cfg(ckpts, top_k=2, vote='weighted'))
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        routed, sel = model(data['inputs'], mode='tensor')
    assert routed.shape == (3, 2, C) and sel.shape == (3, 2, G)
    for v, video in enumerate(VIDEOS):
        expected, _, _ = hand_route(video, 2, 'weighted')
        np.testing.assert_allclose(
            routed[v].numpy(), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(
            sel[v].numpy(), 10 * np.array(video), rtol=1e-4, atol=1e-4)


def test_views_merge_by_mean_softmax_not_mean_logits(ckpts):
    # expert 0 is sure of one class in view 0, expert 2 mildly prefers
    # another in view 1: the two merges disagree and ours is the official
    model = _build(_cfg(ckpts))
    video = VIDEOS[0]
    routed, score, _ = hand_route(video, 1, 'max_logit')
    with torch.no_grad():
        (sample, ) = model.test_step(_batch([video]))
    np.testing.assert_allclose(sample.pred_score.numpy(), score, rtol=1e-4)
    assert not np.allclose(
        sample.pred_score.numpy(), _softmax(routed.mean(axis=0)), rtol=1e-3)


def test_pattern_and_num_experts(ckpts):
    cfg = _cfg(
        ckpts,
        expert_checkpoints=ckpts['pattern'],
        grouping=None,
        num_experts=G)
    model = _build(cfg)
    assert len(model.experts) == G
    np.testing.assert_allclose(
        model.experts[2].cls_head.fc_cls.bias.detach().numpy(),
        EXPERT_B[2],
        rtol=1e-6)
    model.init_weights()  # must not re-initialise the loaded weights
    np.testing.assert_allclose(
        model.experts[2].cls_head.fc_cls.bias.detach().numpy(),
        EXPERT_B[2],
        rtol=1e-6)


def test_missing_checkpoint_is_named(ckpts, tmp_path):
    with pytest.raises(
            FileNotFoundError,
            match=r'selector .*nope\.pth.*expert 1 .*gone\.pth'):
        _build(
            _cfg(
                ckpts,
                selector_checkpoint=str(tmp_path / 'nope.pth'),
                expert_checkpoints=[
                    ckpts['experts'][0],
                    str(tmp_path / 'gone.pth'), ckpts['experts'][2]
                ]))
    with pytest.raises(FileNotFoundError, match=r'expert 0 .*missing-0'):
        _build(
            _cfg(ckpts, expert_checkpoints=str(tmp_path / 'missing-{}.pth')))


def test_expert_counts_must_agree(ckpts):
    with pytest.raises(
            ValueError,
            match=r'counts disagree: the grouping '
            r'.*: 3, expert_checkpoints: 2'):
        _build(_cfg(ckpts, expert_checkpoints=ckpts['experts'][:2]))
    with pytest.raises(ValueError, match='num_experts: 4'):
        _build(_cfg(ckpts, num_experts=4))
    with pytest.raises(
            ValueError, match='give `grouping`, `num_experts` or a list'):
        _build(_cfg(ckpts, grouping=None, expert_checkpoints=ckpts['pattern']))
    with pytest.raises(ValueError, match='a single path is not a pattern'):
        _build(_cfg(ckpts, expert_checkpoints=ckpts['experts'][0]))


def test_heads_must_fit_groups_and_classes(ckpts):
    with pytest.raises(
            ValueError,
            match='selector head predicts 5 groups, '
            'there are 3 experts'):
        _build(_cfg(ckpts, selector=_recognizer(C)))
    with pytest.raises(
            ValueError,
            match='expert head predicts 3 classes, '
            'the grouping .* has 5'):
        _build(_cfg(ckpts, experts=_recognizer(G)))


def test_checkpoint_of_another_model_fails_strictly(ckpts):
    # a selector checkpoint (3 classes) given as an expert (5 classes)
    with pytest.raises(RuntimeError, match='size mismatch'):
        _build(_cfg(ckpts, expert_checkpoints=[ckpts['selector']] * 3))


def test_options_and_modes(ckpts):
    with pytest.raises(ValueError, match='vote must be one of'):
        _build(_cfg(ckpts, vote='majority'))
    with pytest.raises(ValueError, match=r'top_k must be in 1..3'):
        _build(_cfg(ckpts, top_k=4))
    model = _build(_cfg(ckpts))
    data = model.data_preprocessor(_batch(), True)
    with pytest.raises(NotImplementedError, match='for testing only'):
        model(data['inputs'], data['data_samples'], mode='loss')
    with pytest.raises(ValueError, match=r'inputs \[N, V, C, T, H, W\]'):
        model(data['inputs'][:, 0], mode='tensor')


class _Videos(torch.utils.data.Dataset):
    """In-memory test set: ``VIDEOS`` with hand-computed labels."""

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(VIDEOS)

    def __getitem__(self, i):
        return dict(
            inputs=_video(VIDEOS[i]),
            data_samples=ActionDataSample().set_gt_label(self.labels[i]))


def test_runner_test_without_load_from(ckpts, tmp_path):
    preds = [int(np.argmax(hand_route(v, 1, 'max_logit')[1])) for v in VIDEOS]
    # two videos labelled with their routed prediction, one with another
    labels = [preds[0], (preds[1] + 1) % C, preds[2]]
    runner = Runner(
        model=_cfg(ckpts),
        work_dir=str(tmp_path / 'work'),
        test_dataloader=dict(
            dataset=_Videos(labels),
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        test_cfg=dict(type='TestLoop'),
        test_evaluator=dict(type='AccMetric'),
        default_scope='vtg_plugins')
    metrics = runner.test()
    assert metrics['acc/top1'] == pytest.approx(2 / 3)


def test_with_tstl_backbone_and_fused_head(tmp_path):
    """The project's backbone and head at a tiny size; the heads' zero
    weights and set biases force the selector to group 1 (top-1) or groups
    1 and 2 (top-2), whatever the clip."""

    def cfg(num_classes):
        return dict(
            type='Recognizer3D',
            backbone=dict(
                type='TSTLBackbone',
                img_size=32,
                patch_size=8,
                embed_dim=32,
                depth=1,
                num_heads=2,
                num_frames=4,
                tubelet_size=2,
                drop_path_rate=0.0),
            cls_head=dict(
                type='TSTLFusedHead', num_classes=num_classes, in_channels=32))

    sel_bias = np.array([0.0, 5.0, 1.0])
    biases = RNG.normal(size=(G, C))
    paths = []
    for name, n, bias in [('sel', G, sel_bias)] + [(f'e{g}', C, biases[g])
                                                   for g in range(G)]:
        model = MODELS.build(cfg(n))
        with torch.no_grad():
            model.cls_head.fc_cls.weight.zero_()
            model.cls_head.fc_cls.bias.copy_(torch.as_tensor(bias))
        torch.save(
            dict(state_dict=model.state_dict()), tmp_path / f'{name}.pth')
        paths.append(str(tmp_path / f'{name}.pth'))
    clips = dict(
        inputs=[torch.rand(2, 3, 4, 32, 32) * 255],
        data_samples=[ActionDataSample().set_gt_label(0)])
    w = _softmax(sel_bias)
    for top_k, vote, expected in [
        (1, 'max_logit', _softmax(biases[1])),
        (2, 'weighted',
         _softmax(np.maximum(w[1] * biases[1], w[2] * biases[2]))),
    ]:
        model = _build(
            dict(
                type='TSTLRoutedRecognizer',
                selector=cfg(G),
                experts=cfg(C),
                selector_checkpoint=paths[0],
                expert_checkpoints=paths[1:],
                top_k=top_k,
                vote=vote))
        with torch.no_grad():
            (sample, ) = model.test_step(clips)
        np.testing.assert_allclose(
            sample.pred_score.numpy(), expected, rtol=1e-5)
        assert sample.pred_group.tolist() == [1, 1]
