_base_ = ['../../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_groundnlq'], allow_failed_imports=False)
default_scope = 'vtg_plugins'
default_hooks = dict(
    logger=dict(interval=100),  # official print_freq
    checkpoint=dict(save_best='ego4d_nlq/R@1_IoU0.3'))
# official ModelEma(decay=0.999): MMEngine's EMA with momentum 1 - 0.999;
# buffers (the loss normalizer) are copied, not averaged. Validation, test
# and the saved `state_dict` use the EMA weights (the raw ones are kept in
# `ema_state_dict`); the official eval_nlq.py scores the raw weights.
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExponentialMovingAverage',
        momentum=0.001,
        update_buffers=False,
        priority=49)
]
# official: DDP(find_unused_parameters=True); the loss normalizer is a
# per-process Python float there, so buffers are not broadcast each
# iteration (the default SyncBuffersHook still averages them across
# processes at the end of each epoch)
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=True)
# official init_rand_seed
randomness = dict(seed=12345678, deterministic=False)
