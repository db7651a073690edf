"""Few-shot episodes (FewShotEpisodeDataset) and the alignment classifier
(FewShotAlignmentClassifier).

Each video's synthetic features spell out where they came from: step ``t``
of video ``v`` of class ``c`` is ``[c, v, t, 1]``. So a test can read from
an episode's tensors which class, video and frame every row holds.
"""
import json

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement

from vtg_plugins.datasets.feature_stores import DirectoryWriter
from vtg_tempclr.datasets.few_shot import (FewShotEpisodeDataset,
                                           frame_indices)
from vtg_tempclr.models.few_shot import FewShotAlignmentClassifier

NUM_CLASSES, VIDEOS_PER_CLASS = 6, 4
CLASS_NAMES = [f'class {c}' for c in range(NUM_CLASSES)]  # names with spaces


@pytest.fixture(autouse=True)
def scope():
    init_default_scope('vtg_plugins')


def video_key(c, v):
    return f'vid_{c}_{v}'


@pytest.fixture
def store_root(tmp_path):
    """A DirectoryStore of ``[T, 4]`` features ``[c, v, t, 1]``, with T =
    10 + v steps."""
    root = tmp_path / 'feats'
    with DirectoryWriter(root) as writer:
        for c in range(NUM_CLASSES):
            for v in range(VIDEOS_PER_CLASS):
                steps = 10 + v
                feats = np.stack([
                    np.full(steps, c),
                    np.full(steps, v),
                    np.arange(steps),
                    np.ones(steps)
                ], axis=1).astype(np.float32)
                writer.add(video_key(c, v), feats)
    return root


@pytest.fixture
def jsonl_list(tmp_path):
    path = tmp_path / 'test.jsonl'
    path.write_text(''.join(
        json.dumps(dict(video=video_key(c, v), label=CLASS_NAMES[c])) + '\n'
        for c in range(NUM_CLASSES) for v in range(VIDEOS_PER_CLASS)))
    return path


def build(ann_file, store_root, **kwargs):
    cfg = dict(num_ways=3, num_shots=2, num_queries=1, num_episodes=50,
               num_frames=4, seed=0)
    cfg.update(kwargs)
    return FewShotEpisodeDataset(
        ann_file=str(ann_file),
        feature_store=dict(type='DirectoryStore', root=str(store_root)),
        **cfg)


def test_frame_indices_spread_over_the_video_both_ends_included():
    assert frame_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert frame_indices(13, 8).tolist() == [0, 1, 3, 5, 6, 8, 10, 12]
    assert frame_indices(3, 5).tolist() == [0, 0, 1, 1, 2]


def test_episode_rows_hold_the_listed_classes_videos_and_frames(
        jsonl_list, store_root):
    dataset = build(jsonl_list, store_root)
    item = dataset[5]
    vfeats, vmasks = item['inputs']['vfeats'], item['inputs']['vmasks']
    sample = item['data_samples']
    assert vfeats.shape == (3 * 2 + 3 * 1, 4, 4)
    assert vfeats.dtype == torch.float32 and bool(vmasks.all())
    assert sample.episode_id == 5
    assert sample.support_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert sample.query_labels.tolist() == [0, 1, 2]
    assert len(set(sample.class_names)) == 3
    rows_labels = sample.support_labels.tolist() + \
        sample.query_labels.tolist()
    videos = sample.support_videos + sample.query_videos
    for row, (label, key) in enumerate(zip(rows_labels, videos)):
        c, v = int(vfeats[row, 0, 0]), int(vfeats[row, 0, 1])
        assert CLASS_NAMES[c] == sample.class_names[label]
        assert key == video_key(c, v)
        assert vfeats[row, :, 2].tolist() == \
            frame_indices(10 + v, 4).tolist()
    assert len(set(videos)) == len(videos)  # support and queries distinct


def test_episodes_depend_only_on_seed_and_index(jsonl_list, store_root):
    first, second = build(jsonl_list, store_root), build(jsonl_list,
                                                         store_root)
    second[3]  # another access order must not matter
    for idx in (7, 0, 49):
        a, b = first[idx], second[idx]
        assert torch.equal(a['inputs']['vfeats'], b['inputs']['vfeats'])
        assert a['data_samples'].query_videos == \
            b['data_samples'].query_videos
    episodes = [tuple(first[i]['data_samples'].support_videos)
                for i in range(20)]
    assert len(set(episodes)) > 15
    reseeded = build(jsonl_list, store_root, seed=1)
    assert [tuple(reseeded[i]['data_samples'].support_videos)
            for i in range(20)] != episodes


def test_episodes_draw_every_class_and_video(jsonl_list, store_root):
    dataset = build(jsonl_list, store_root, num_episodes=200)
    classes, videos = set(), set()
    for i in range(len(dataset)):
        sample = dataset.prepare_data(i)['data_samples']
        classes.update(sample.class_names)
        videos.update(sample.support_videos + sample.query_videos)
    assert classes == set(CLASS_NAMES)
    assert len(videos) == NUM_CLASSES * VIDEOS_PER_CLASS


def test_split_file_layout_reads_like_jsonl(tmp_path, jsonl_list,
                                            store_root):
    split = tmp_path / 'testlist01.txt'
    split.write_text(''.join(
        f'{CLASS_NAMES[c]}/{video_key(c, v)}\n\n'
        for c in range(NUM_CLASSES) for v in range(VIDEOS_PER_CLASS)))
    from_txt, from_jsonl = build(split, store_root), build(jsonl_list,
                                                           store_root)
    assert from_txt.class_names == from_jsonl.class_names
    for idx in (0, 11):
        assert torch.equal(from_txt[idx]['inputs']['vfeats'],
                           from_jsonl[idx]['inputs']['vfeats'])


def test_classes_restricts_the_episodes(jsonl_list, store_root):
    chosen = CLASS_NAMES[1:4]
    dataset = build(jsonl_list, store_root, classes=chosen)
    assert dataset.class_names == sorted(chosen)
    for i in range(10):
        assert set(dataset[i]['data_samples'].class_names) == set(chosen)


def test_short_videos_repeat_steps_when_allowed(jsonl_list, store_root):
    dataset = build(jsonl_list, store_root, num_frames=12,
                    allow_short_videos=True)
    vfeats = dataset[0]['inputs']['vfeats']
    steps = vfeats[:, :, 2]
    lengths = 10 + vfeats[:, 0, 1]
    for row in range(len(vfeats)):
        assert steps[row].tolist() == frame_indices(int(lengths[row]),
                                                    12).tolist()


# --- classifier ------------------------------------------------------------
def classifier(metric='otam', out_dim=None, in_dim=4, **kwargs):
    return FewShotAlignmentClassifier(
        frame_encoder=dict(type='LinearFrameEncoder', in_dim=in_dim,
                           out_dim=out_dim),
        metric=metric, **kwargs)


def episode_sample(num_ways, num_shots, num_queries, episode_id=0):
    ways = torch.arange(num_ways)
    return BaseDataElement(
        episode_id=episode_id, num_ways=num_ways,
        support_labels=ways.repeat_interleave(num_shots),
        query_labels=ways.repeat_interleave(num_queries))


@pytest.fixture
def pattern_store(tmp_path):
    """Class ``c`` walks through directions ``e_{(c + 2t) mod 8}`` over 8
    steps; each video adds its own noise (std 0.05)."""
    rng = np.random.default_rng(0)
    root, records = tmp_path / 'patterns', []
    with DirectoryWriter(root) as writer:
        for c in range(NUM_CLASSES):
            for v in range(VIDEOS_PER_CLASS):
                feats = np.eye(8)[[(c + 2 * t) % 8 for t in range(8)]]
                feats = feats + rng.normal(0, 0.05, feats.shape)
                writer.add(video_key(c, v), feats.astype(np.float32))
                records.append(dict(video=video_key(c, v),
                                    label=CLASS_NAMES[c]))
    path = tmp_path / 'patterns.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path, root


@pytest.mark.parametrize('metric', ['otam', 'dtw'])
def test_val_step_classifies_every_query_of_every_episode(
        pattern_store, metric):
    path, root = pattern_store
    dataset = build(path, root, num_ways=5, num_shots=1, num_queries=2,
                    num_frames=8)
    model = classifier(metric, in_dim=8)
    outputs = model.val_step(pseudo_collate([dataset[i] for i in range(3)]))
    assert [o.episode_id for o in outputs] == [0, 1, 2]  # one per episode
    for i, out in enumerate(outputs):
        assert out.gt_label.tolist() == \
            dataset[i]['data_samples'].query_labels.tolist()
        assert out.pred_label.tolist() == out.gt_label.tolist()
        assert out.pred_scores.shape == (10, 5)
        assert out.pred_label.tolist() == \
            out.pred_scores.argmax(-1).tolist()


def test_runner_evaluation_counts_every_query(tmp_path):
    """Through mmengine's Evaluator as the ValLoop calls it
    (``evaluate(len(dataset))``): the accuracy is the mean over episodes of
    the fraction of right queries, all N*Q of them."""
    rng = np.random.default_rng(1)
    root, records = tmp_path / 'noise', []
    with DirectoryWriter(root) as writer:  # pure noise: errors happen
        for c in range(NUM_CLASSES):
            for v in range(VIDEOS_PER_CLASS):
                writer.add(video_key(c, v),
                           rng.normal(size=(6, 4)).astype(np.float32))
                records.append(dict(video=video_key(c, v),
                                    label=CLASS_NAMES[c]))
    path = tmp_path / 'noise.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    dataset = build(path, root, num_ways=3, num_shots=1, num_queries=3,
                    num_episodes=12)
    model = classifier('otam')
    evaluator = Evaluator(dict(type='FewShotAccuracyMetric'))
    per_episode = []
    for start in range(0, len(dataset), 4):
        batch = pseudo_collate([dataset[i] for i in range(start, start + 4)])
        outputs = model.val_step(batch)
        per_episode += [float((o.pred_label == o.gt_label).double().mean())
                        for o in outputs]
        evaluator.process(outputs, batch)
    metrics = evaluator.evaluate(len(dataset))
    assert len(set(per_episode)) > 1  # episodes differ: the test can fail
    expected = np.mean(per_episode) * 100
    assert metrics['few_shot/accuracy'] == pytest.approx(expected)
    assert metrics['few_shot/ci95'] == pytest.approx(
        1.96 * np.std(per_episode) * 100 / np.sqrt(12))


def test_tempclr_video_token_encoder_embeds_each_frame(tiny_bert_config):
    torch.manual_seed(0)
    model = FewShotAlignmentClassifier(frame_encoder=dict(
        type='TempCLRVideoTokenEncoder',
        encoder=dict(type='TempCLRDualEncoder', bert_config=tiny_bert_config,
                     video_layers=1, input_dim=4, max_video_len=32,
                     cls_token_id=2, sep_token_id=3)))
    vfeats = torch.randn(2 * 2 + 2 * 1, 8, 4)
    masks = torch.ones(6, 8, dtype=torch.bool)
    states = model.frame_encoder(vfeats, masks)
    assert states.shape == (6, 8, 16)
    # a frame's state depends on the other frames (not a per-frame MLP)
    moved = vfeats.clone()
    moved[:, -1] += 1
    assert not torch.allclose(model.frame_encoder(moved, masks)[:, 0],
                              states[:, 0])
    sample = episode_sample(num_ways=2, num_shots=2, num_queries=1)
    loss = model.loss(dict(vfeats=[vfeats], vmasks=[masks]),
                      [sample])['loss_cls']
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads and all('LayerNorm' in n for n in grads)  # 'layernorm'


@pytest.mark.parametrize('metric', ['otam', 'dtw'])
def test_alignment_tells_apart_classes_that_differ_only_in_order(metric):
    frames = torch.eye(4)
    forward, backward = frames, frames.flip(0)  # same frames, reversed
    vfeats = torch.stack([forward, backward, forward + 0.01, backward])
    sample = episode_sample(num_ways=2, num_shots=1, num_queries=1)
    logits = classifier(metric).episode_logits(
        vfeats, torch.ones(4, 4, dtype=torch.bool), sample, soft=False)
    assert logits.argmax(-1).tolist() == [0, 1]
    # a mean-pooled video embedding could not: both classes average alike
    assert torch.allclose(forward.mean(0), backward.mean(0))


def test_class_cost_is_the_mean_over_the_class_support():
    costs = torch.tensor([[1., 3., 5., 7., 2.], [0., 4., 1., 1., 9.]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    out = FewShotAlignmentClassifier.class_costs(costs, labels, 3)
    assert torch.allclose(out, torch.tensor([[2., 6., 2.], [2., 1., 9.]]))


@pytest.mark.parametrize('metric', ['otam', 'dtw'])
def test_soft_costs_approach_the_hard_costs_as_lbda_shrinks(metric):
    torch.manual_seed(0)
    model = classifier(metric, lbda=1e-4)
    vfeats = torch.randn(3 * 2 + 3, 5, 4, dtype=torch.float64)
    masks = torch.ones(9, 5, dtype=torch.bool)
    sample = episode_sample(num_ways=3, num_shots=2, num_queries=1)
    hard = model.episode_logits(vfeats, masks, sample, soft=False)
    soft = model.episode_logits(vfeats, masks, sample, soft=True)
    assert hard.shape == soft.shape == (3, 3)
    assert torch.allclose(soft.double(), hard.double(), atol=1e-3)
    assert not torch.allclose(
        classifier(metric, lbda=0.5).episode_logits(
            vfeats, masks, sample, soft=True).double(), hard, atol=1e-2)


def test_episode_loss_trains_the_frame_encoder(pattern_store):
    path, root = pattern_store
    dataset = build(path, root, num_ways=3, num_shots=1, num_queries=2,
                    num_frames=8)
    torch.manual_seed(0)
    model = classifier('otam', in_dim=8, out_dim=6)
    batch = pseudo_collate([dataset[i] for i in range(2)])
    data = model.data_preprocessor(batch, True)
    first = model(**data, mode='loss')['loss_cls']
    first.backward()
    assert model.frame_encoder.proj.weight.grad.abs().sum() > 0
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5))
    for _ in range(10):
        last = model.train_step(batch, optim)['loss_cls']
    assert torch.isfinite(first) and last < first.detach()
