# Runtime shared by every method: logging, checkpointing, environment.
default_scope = 'vtg_plugins'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    # progress: loss, lr, time and ETA every `interval` iterations
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keeps the last 3 checkpoints and the best one; methods set
    # `save_best` to their official model-selection metric, e.g.
    # save_best='qvhighlights/MR-full-mAP'. 'auto' = first metric.
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='auto',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # every rank's random generators saved with each checkpoint and put
    # back on resume (and after each validation): a resumed run repeats
    # the uninterrupted one
    random_state=dict(type='RandomStateHook'),
    # the run's reproducibility card (method, config hash, global batch,
    # scaled lr, seed, splits, feature recipes, code and stack versions):
    # logged, written to work_dir/repro_card.json and saved in every
    # checkpoint's meta['repro_card']; tools/test.py prints it back
    repro_card=dict(type='ReproducibilityCardHook'))

# tools/train.py and tools/test.py switch the backend to gloo and wrap the
# model with device_ids=None when CUDA is absent, so this works on both.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

# TensorBoard is available but off: `tools/train.py --tensorboard` appends
# `tensorboard_backend` to the visualizer's backends.
vis_backends = [dict(type='LocalVisBackend')]
tensorboard_backend = dict(type='TensorboardVisBackend')
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
