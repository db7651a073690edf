"""The stage-2 DeepSpeed ZeRO-2 config's strategy and optimizer wrapper on
a tiny stage-2 model, through ``tools/dist_train.sh`` and MMEngine's
``FlexibleRunner`` on the CPU (bf16 in place of the config's fp16, which
DeepSpeed's CPU accelerator lacks): the e2e parameter groups reach
DeepSpeed's optimizer, the accumulated steps count in the schedule, only
the stage-2 parts train and the BatchNorm statistics follow the weights'
dtype."""
import re

import pytest
import torch
from mmengine.config import Config

import vtg_hd_vila  # noqa: F401  (registers HD-VILA)
from vtg_hd_vila.testing import make_retrieval_data
from vtg_plugins.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from vtg_plugins.testing.configs import write_config

TINY = 'configs/hd_vila/hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py'
DEEPSPEED = ('configs/hd_vila/'
             'hd_vila_stage2_64xb16-10e_hdvila100m_deepspeed-zero2-fp16.py')
STAGE2 = dict(
    type='HDVILAPretrainStage2',
    mask_token_id=5,
    special_token_ids=(0, 1, 2, 3, 4, 5),
    pixel_random_sampling_size=3)


def _config(repo, path):
    """The tiny retrieval data and sizes with the DeepSpeed config's stage-2
    model type, strategy (bf16, tiny micro batch) and optimizer wrapper."""
    official = Config.fromfile(str(repo / DEEPSPEED))
    tiny = Config.fromfile(str(repo / TINY))
    strategy = official.strategy.to_dict()
    assert strategy.pop('fp16')['enabled']
    strategy['bf16'] = dict(enabled=True)
    strategy['config']['data_types'] = dict(buffer_dtype='bf16')
    strategy.update(
        train_micro_batch_size_per_gpu=2, gradient_accumulation_steps=2)
    wrapper = official.optim_wrapper.to_dict()
    wrapper['optimizer']['lr'] = 1e-3
    scheduler, = official.param_scheduler
    model = dict(
        STAGE2,
        video_encoder=tiny.model.video_encoder.to_dict(),
        bert_config=tiny.model.bert_config.to_dict())
    body = (f'model = dict(_delete_=True, **{model!r})\n'
            f'strategy = {strategy!r}\n'
            f'optim_wrapper = dict(_delete_=True, **{wrapper!r})\n'
            f'param_scheduler = [{dict(scheduler, warmup_ratio=0.5)!r}]\n'
            'default_hooks = dict(checkpoint=dict(save_best=None))\n')
    return write_config(path, repo / TINY, body), model, wrapper


def _groups(model, wrapper):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type=wrapper['constructor'],
            optim_wrapper_cfg=dict(
                type='OptimWrapper', optimizer=wrapper['optimizer']),
            paramwise_cfg=wrapper['paramwise_cfg']))
    return constructor(model).optimizer.param_groups


@pytest.mark.slow
def test_stage2_deepspeed_zero2(tmp_path, repo, run_cmd):
    make_retrieval_data(tmp_path / 'data/hd_vila_synthetic/retrieval')
    config, model_cfg, wrapper = _config(repo, tmp_path / 'ds.py')
    proc = run_cmd([
        repo / 'tools' / 'dist_train.sh', config, 1, '--work-dir',
        tmp_path / 'ds'
    ],
                   cwd=tmp_path,
                   env=dict(DS_ACCELERATOR='cpu', PORT='29793'))
    log = proc.stdout
    assert 'Epoch(train) [2][2/2]' in log
    assert 'msrvtt/t2v_R1' in log  # validated: the stage-1 features
    # 4 iterations, 2 updates (2 accumulated each): W = int(0.5 x 2) = 1,
    # linear: full lr at update 1, the floor at update 2
    lrs = [
        float(v)
        for v in re.findall(r'Epoch\(train\).*? lr: ([0-9.e+-]+)', log)
    ]
    assert lrs == [1e-3, 1e-3, 1e-8, 1e-8]

    states = tmp_path / 'ds' / 'epoch_2.pth'
    model = torch.load(
        states / 'mp_rank_00_model_states.pt',
        map_location='cpu',
        weights_only=False)
    assert model['global_steps'] == 2
    assert model['ds_config']['zero_optimization']['stage'] == 2
    weights = model['module']
    assert weights['video_encoder.cnn.bn1.running_mean'].dtype == \
        torch.bfloat16
    optim = torch.load(
        states / 'bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt',
        map_location='cpu',
        weights_only=False)['optimizer_state_dict']
    groups = optim['base_optimizer_state']['param_groups']
    torch.manual_seed(0)
    start = MODELS.build(model_cfg)
    expected = _groups(start, wrapper)
    # stage 1 frozen: the transformer's decayed and no-decay groups only
    assert sorted(g['weight_decay']
                  for g in groups) == sorted(g['weight_decay']
                                             for g in expected) == [0.0, 1e-3]
    assert all(g['lr'] == 1e-8 for g in groups)
    trainable = {n for n, p in start.named_parameters() if p.requires_grad}
    init = start.state_dict()
    moved = {
        k
        for k in trainable
        if not torch.equal(weights[k].float(), init[k].bfloat16().float())
    }
    assert moved and moved <= trainable
    assert any(k.startswith('transformer.cls.predictions') for k in moved)
    frozen = [k for k, p in start.named_parameters() if not p.requires_grad]
    for key in frozen:  # the stage-1 parts do not move
        assert torch.equal(weights[key].float(),
                           init[key].bfloat16().float()), key
