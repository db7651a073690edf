"""The tiny TSTL on 2 CPU processes (gloo) and on DeepSpeed / AMP.

``tools/dist_train.sh TINY 2``: both ranks end with identical weights, the
trainable ones moved and the frozen ones not, and the validation metric is
reported (not compared with one process: mixup draws differ per rank).
``tools/dist_test.sh`` of that checkpoint on 7 videos (the distributed
sampler pads one) gives exactly the single-process metric and predictions.
The DeepSpeed bf16 ZeRO-2 block of the SSv2 config trains the tiny model
through ``FlexibleRunner`` with the layer-decay groups, and ``--amp`` trains
it under bf16 autocast."""
import pickle
import re
import sys

import pytest
import torch
from mmengine.config import Config

import vtg_tstl  # noqa: F401  (registers TSTL)
from vtg_plugins.registry import OPTIM_WRAPPER_CONSTRUCTORS
from vtg_plugins.testing.configs import write_config

TINY = 'configs/tstl/tstl_tiny_1xb4-6e_synthetic-videos.py'
DEEPSPEED = ('configs/tstl/'
             'tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_deepspeed-zero2-'
             'bf16.py')
SAVE_RANK_WEIGHTS = """
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_tstl', 'vtg_plugins.testing.toy'],
    allow_failed_imports=False)
custom_hooks = [dict(type='SaveRankWeightsHook')]
"""


def _last_val(log: str) -> dict:
    lines = [ln for ln in log.splitlines()
             if 'Epoch(val)' in ln and 'acc/top1' in ln]
    assert lines, log[-3000:]
    return {k: float(v)
            for k, v in re.findall(r'(acc/\w+): ([0-9.]+)', lines[-1])}


def _load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


@pytest.mark.slow
def test_two_process_train_and_test(tmp_path, repo, run_cmd, read_metrics,
                                    tiny_videos, data_options,
                                    untrained_model, run_side_by_side):
    data, wd = tiny_videos, tmp_path / 'wd'
    cfg = write_config(tmp_path / 'dist.py', repo / TINY, SAVE_RANK_WEIGHTS)
    proc = run_cmd([repo / 'tools' / 'dist_train.sh', cfg, 2, '--work-dir',
                    wd, '--cfg-options', *data_options(data)],
                   cwd=repo, env=dict(PORT='29771'))
    assert 'Epoch(train) [6][3/3]' in proc.stdout  # 24 clips / (2 x 4)
    assert set(_last_val(proc.stdout)) == {'acc/top1', 'acc/top5',
                                           'acc/mean1'}
    rank0 = torch.load(wd / 'weights_rank0.pth')
    rank1 = torch.load(wd / 'weights_rank1.pth')
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    ckpt = torch.load(wd / 'epoch_6.pth', weights_only=False)['state_dict']
    for key in rank0:
        assert torch.equal(ckpt[key], rank0[key]), key
    start = untrained_model(repo / TINY)
    trainable = {n for n, p in start.named_parameters() if p.requires_grad}
    moved = {k for k, v in start.state_dict().items()
             if not torch.equal(v, rank0[k])}
    assert moved <= trainable, sorted(moved - trainable)  # frozen stay
    assert {k for k in trainable if k.startswith('cls_head.')} <= moved
    assert any(k.startswith('backbone.') for k in moved)

    # 7 of the val videos: 2 ranks get 4 each, the sampler pads one
    lines = open(data.lists['val']).read().splitlines()[:7]
    val7 = tmp_path / 'val7.csv'
    val7.write_text('\n'.join(lines) + '\n')
    options = ['--cfg-options', *data_options(
        data, loaders=('test', ), lists=dict(test=val7))]
    single, dist = run_side_by_side(
        ([sys.executable, repo / 'tools' / 'test.py', repo / TINY,
          wd / 'epoch_6.pth', '--work-dir', tmp_path / 't1', '--dump',
          tmp_path / 'single.pkl', *options], None),
        ([repo / 'tools' / 'dist_test.sh', repo / TINY, wd / 'epoch_6.pth',
          2, '--work-dir', tmp_path / 't2', '--dump', tmp_path / 'dist.pkl',
          *options], dict(PORT='29772')))
    assert read_metrics(dist.stdout) == read_metrics(single.stdout)
    one, two = _load(tmp_path / 'single.pkl'), _load(tmp_path / 'dist.pkl')
    assert len(one) == len(two) == 7
    for a, b in zip(one, two):
        assert int(a['gt_label']) == int(b['gt_label'])
        assert torch.allclose(a['pred_score'], b['pred_score'], atol=1e-5)


def _deepspeed_tiny(repo, path):
    """The tiny config with the SSv2 config's DeepSpeed strategy and
    optimizer wrapper (micro batch, accumulation and lr of the tiny run)."""
    official = Config.fromfile(str(repo / DEEPSPEED))
    tiny = Config.fromfile(str(repo / TINY))
    strategy = official.strategy.to_dict()
    assert strategy['zero_optimization']['stage'] == 2
    assert strategy['bf16'] == dict(enabled=True)
    strategy.update(train_micro_batch_size_per_gpu=4,
                    gradient_accumulation_steps=1)
    wrapper = official.optim_wrapper.to_dict()
    assert wrapper['type'] == 'DeepSpeedOptimWrapper'
    assert wrapper['constructor'] == 'TSTLLayerDecayOptimWrapperConstructor'
    wrapper['optimizer']['lr'] = tiny.optim_wrapper.optimizer.lr
    return write_config(
        path, repo / TINY, f'strategy = {strategy!r}\n'
        f'optim_wrapper = dict(_delete_=True, **{wrapper!r})\n'
        'train_cfg = dict(max_epochs=2, val_interval=2)\n'), wrapper


def _layer_decay_groups(model, wrapper: dict) -> list:
    """``(lr_scale, weight_decay)`` of each group the config's constructor
    gives ``model`` (in a plain ``OptimWrapper``)."""
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=wrapper['constructor'],
        optim_wrapper_cfg=dict(type='OptimWrapper',
                               optimizer=wrapper['optimizer']),
        paramwise_cfg=wrapper['paramwise_cfg']))
    groups = constructor(model).optimizer.param_groups
    return sorted((g['lr_scale'], g['weight_decay']) for g in groups)


@pytest.mark.slow
def test_deepspeed_bf16_and_amp_training(tmp_path, repo, tiny_videos,
                                         data_options, untrained_model,
                                         run_side_by_side):
    options = ['--cfg-options', *data_options(tiny_videos)]
    cfg, wrapper = _deepspeed_tiny(repo, tmp_path / 'ds.py')
    deepspeed, amp = run_side_by_side(
        ([repo / 'tools' / 'dist_train.sh', cfg, 1, '--work-dir',
          tmp_path / 'ds', *options],
         dict(DS_ACCELERATOR='cpu', PORT='29773')),
        ([sys.executable, repo / 'tools' / 'train.py', repo / TINY, '--amp',
          '--work-dir', tmp_path / 'amp', *options,
          'train_cfg.max_epochs=2', 'train_cfg.val_interval=2'], None))
    start = untrained_model(repo / TINY)
    init = start.state_dict()

    # DeepSpeed: validated in bf16, weights bf16, the layer-decay groups
    assert 'acc/top1' in _last_val(deepspeed.stdout)
    states = tmp_path / 'ds' / 'epoch_2.pth'
    model = torch.load(states / 'mp_rank_00_model_states.pt',
                       map_location='cpu', weights_only=False)
    assert model['ds_config']['zero_optimization']['stage'] == 2
    weights = model['module']
    assert weights['cls_head.fc_cls.weight'].dtype == torch.bfloat16
    head = 'cls_head.fc_cls.weight'
    assert (weights[head].float() - init[head]).abs().max() > 1e-2
    optim = torch.load(
        states / 'bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt',
        map_location='cpu', weights_only=False)['optimizer_state_dict']
    groups = optim['base_optimizer_state']['param_groups']
    expected = _layer_decay_groups(start, wrapper)
    # 2 blocks (layer ids 1, 2) and the head (3), frozen stems: 0.75 ** k
    assert {s for s, _ in expected} == {0.75**2, 0.75, 1.0}
    assert sorted((g['lr_scale'], g['weight_decay'])
                  for g in groups) == expected
    base = groups[0]['lr'] / groups[0]['lr_scale']
    for g in groups:  # each group's lr is the scheduled lr x its scale
        assert g['lr'] == pytest.approx(base * g['lr_scale'], rel=1e-9)

    # --amp on CPU: bf16 autocast through BF16OptimWrapper
    dumped = Config.fromfile(
        str(tmp_path / 'amp' / 'tstl_tiny_1xb4-6e_synthetic-videos.py'))
    assert dumped.optim_wrapper.type == 'BF16OptimWrapper'
    assert 'acc/top1' in _last_val(amp.stdout)
    losses = [float(v) for v in re.findall(r' loss: ([0-9.]+)', amp.stdout)]
    assert losses and all(0 < v < 10 for v in losses)
    trained = torch.load(tmp_path / 'amp' / 'epoch_2.pth',
                         weights_only=False)['state_dict']
    assert not torch.equal(trained[head], init[head])
