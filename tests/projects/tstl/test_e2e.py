"""End to end on PyAV-written synthetic videos, through the real
``tools/train.py`` / ``tools/test.py``: the tiny fused TSTL trains far above
its untrained self; ``--dump`` holds, per video, the mean of the softmax of
its 2 clips x 3 crops (recomputed here from the checkpoint); the selector
and one expert per group train, and the routed test predicts what routing
each view by hand through the three checkpoints gives."""
import pickle
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import vtg_tstl  # noqa: F401  (registers TSTL)
from vtg_plugins.registry import DATASETS, MODELS
from vtg_tstl.grouping import load_class_grouping

CFG = 'configs/tstl/'
TINY = CFG + 'tstl_tiny_1xb4-6e_synthetic-videos.py'
SELECTOR = CFG + 'tstl_tiny-selector_1xb4-6e_synthetic-videos.py'
EXPERT = CFG + 'tstl_tiny-expert_1xb4-6e_synthetic-videos.py'
ROUTED = CFG + 'tstl_tiny-routed_1xb2_synthetic-videos.py'
GROUPING = CFG + 'groupings/tiny_4-classes_2-groups.json'
METRICS = {'acc/top1', 'acc/top5', 'acc/mean1'}
VIEWS = 2 * 3  # clips x crops of the tiny test pipeline


def _val_metrics(log: str) -> dict:
    """The metrics of the last ``Epoch(val)`` summary of a training log."""
    lines = [ln for ln in log.splitlines()
             if 'Epoch(val)' in ln and 'acc/top1' in ln]
    assert lines, log[-3000:]
    return {k: float(v)
            for k, v in re.findall(r'(acc/\w+): ([0-9.]+)', lines[-1])}


def _test_clips(repo, data, data_options):
    """The tiny config's test dataset on ``data`` and a function giving the
    normalised views ``[V, 3, T, H, W]`` of video ``i``."""
    cfg = Config.fromfile(str(repo / TINY))
    init_default_scope(cfg.default_scope)
    cfg.merge_from_dict(dict(
        o.split('=', 1) for o in data_options(data, loaders=('test', ))))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)

    def clips(i: int) -> torch.Tensor:
        batch = preprocessor(pseudo_collate([dataset[i]]), False)
        return batch['inputs'][0]

    return dataset, clips


def _recognizer(repo, checkpoint, num_classes: int):
    """The tiny recognizer with ``num_classes`` outputs, loaded strictly."""
    cfg = Config.fromfile(str(repo / TINY))
    cfg.model.cls_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    return model.eval()


def _view_logits(model, clips: torch.Tensor) -> torch.Tensor:
    """``[V, 3, T, H, W]`` -> the head's raw logits ``[V, classes]``, one
    view at a time (no view averaging)."""
    with torch.no_grad():
        return torch.cat([model.cls_head(model.backbone(c[None]))
                          for c in clips])


def _load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


@pytest.mark.slow
def test_train_beats_untrained_and_dump_averages_view_softmax(
        tmp_path, repo, run_cmd, read_metrics, tiny_videos, data_options,
        untrained_model, run_side_by_side):
    data, wd = tiny_videos, tmp_path / 'wd'
    options = ['--cfg-options', *data_options(data)]
    torch.save(dict(state_dict=untrained_model(repo / TINY).state_dict()),
               tmp_path / 'untrained.pth')
    untrained, trained = run_side_by_side(
        ([sys.executable, repo / 'tools' / 'test.py', repo / TINY,
          tmp_path / 'untrained.pth', '--work-dir', tmp_path / 'wd0',
          *options], None),
        ([sys.executable, repo / 'tools' / 'train.py', repo / TINY,
          '--work-dir', wd, *options], None))
    before = read_metrics(untrained.stdout)
    val = _val_metrics(trained.stdout)
    assert set(before) == set(val) == METRICS, (before, val)
    # measured (seed 0): untrained top-1 0.25 (chance), trained 0.75
    assert val['acc/top1'] >= before['acc/top1'] + 0.375, (before, val)
    assert val['acc/mean1'] >= before['acc/mean1'] + 0.375, (before, val)

    dump = tmp_path / 'preds.pkl'
    test = read_metrics(run_cmd(
        [sys.executable, repo / 'tools' / 'test.py', repo / TINY,
         wd / 'epoch_6.pth', '--work-dir', wd, '--dump', dump, *options],
        cwd=repo).stdout)
    # the last validation scored the same weights on the same views
    assert test == pytest.approx(val, abs=1e-4)

    preds = _load(dump)
    dataset, clips = _test_clips(repo, data, data_options)
    model = _recognizer(repo, wd / 'epoch_6.pth', num_classes=4)
    assert len(preds) == len(dataset) == len(data.labels['val']) == 8
    by_logit_mean = []
    for i, (pred, label) in enumerate(zip(preds, data.labels['val'])):
        views = clips(i)
        assert views.shape == (VIEWS, 3, 4, 32, 32)
        logits = _view_logits(model, views)
        assert not torch.allclose(logits[0], logits[1:], atol=1e-3)
        score = pred['pred_score']
        assert score.shape == (4, ) and int(pred['gt_label']) == label
        assert float(score.sum()) == pytest.approx(1.0, abs=1e-5)
        assert torch.allclose(score, logits.softmax(-1).mean(0), atol=1e-5)
        by_logit_mean.append(logits.mean(0).softmax(-1))
    # the merge is the softmax mean, not the softmax of the mean logit
    # (farther from it than the tolerance above)
    gap = (torch.stack([p['pred_score'] for p in preds]) -
           torch.stack(by_logit_mean)).abs().max()
    assert gap > 5e-5


def _routed_by_hand(selector, experts, views):
    """Each view to the selector's top-1 group's expert; the softmax of the
    routed logits averaged over the views. Returns ``(score [C],
    groups [V])``."""
    groups = _view_logits(selector, views).argmax(-1)
    logits = torch.cat([_view_logits(experts[int(g)], v[None])
                        for g, v in zip(groups, views)])
    return logits.softmax(-1).mean(0), groups


@pytest.mark.slow
def test_selector_experts_and_routed_test(tmp_path, repo, run_cmd,
                                          read_metrics, tiny_videos,
                                          data_options, run_side_by_side):
    data = tiny_videos
    wrapped = data_options(data, loaders=('train', 'val'), wrapped=True)

    def train(config, work_dir, *extra):
        return ([sys.executable, repo / 'tools' / 'train.py', repo / config,
                 '--work-dir', tmp_path / work_dir, '--cfg-options',
                 *wrapped, *extra], None)

    selector, *experts = run_side_by_side(
        train(SELECTOR, 'selector'),
        *(train(EXPERT, f'expert-{g}', f'train_dataloader.dataset.group={g}',
                f'val_dataloader.dataset.group={g}') for g in (0, 1)))
    # each run reports its own accuracy: the selector's is over groups
    group_acc = _val_metrics(selector.stdout)
    assert set(group_acc) == METRICS
    for proc in experts:
        assert set(_val_metrics(proc.stdout)) == METRICS

    dump = tmp_path / 'routed.pkl'
    proc = run_cmd([
        sys.executable, repo / 'tools' / 'test.py', repo / ROUTED,
        '--work-dir', tmp_path / 'routed', '--dump', dump, '--cfg-options',
        f"model.selector_checkpoint={tmp_path / 'selector' / 'epoch_6.pth'}",
        f"model.expert_checkpoints={tmp_path / 'expert-{}' / 'epoch_6.pth'}",
        *data_options(data, loaders=('test', ))
    ], cwd=repo)
    metrics = read_metrics(proc.stdout)
    assert set(metrics) == METRICS

    preds = _load(dump)
    dataset, clips = _test_clips(repo, data, data_options)
    sel = _recognizer(repo, tmp_path / 'selector' / 'epoch_6.pth', 2)
    exps = [_recognizer(repo, tmp_path / f'expert-{g}' / 'epoch_6.pth', 4)
            for g in (0, 1)]
    grouping = load_class_grouping(repo / GROUPING)
    assert len(preds) == len(dataset) == 8
    hits, group_hits, used = [], [], set()
    for i, (pred, label) in enumerate(zip(preds, data.labels['val'])):
        score, groups = _routed_by_hand(sel, exps, clips(i))
        assert torch.allclose(pred['pred_score'], score, atol=1e-5), i
        assert pred['pred_group'].tolist() == groups.tolist(), i
        assert pred['pred_score'].shape == (4, )
        used.update(groups.tolist())
        hits.append(int(score.argmax()) == label)
        group_hits.append(
            int(pred['pred_group_score'].argmax()) ==
            grouping.group_of(label))
    assert used == {0, 1}  # both experts were routed to
    assert metrics['acc/top1'] == pytest.approx(sum(hits) / len(hits))
    # the view-averaged selector softmax of the routed run is what the
    # selector's own validation scored
    assert group_acc['acc/top1'] == pytest.approx(
        sum(group_hits) / len(group_hits), abs=1e-4)
