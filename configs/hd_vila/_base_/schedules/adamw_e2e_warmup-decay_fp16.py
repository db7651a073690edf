# HD-VILA's optimisation (src/optimization/, the run_*.py scripts):
# - the official AdamW (HDVILAAdamW: eps 1e-6 on the uncorrected sqrt(v),
#   weight decay after the step; not torch's AdamW), betas (0.9, 0.98);
# - three parameter sets with their own lr and weight decay (the
#   transformer: the optimizer's lr / weight_decay; cnn + grid encoders:
#   cnn_lr / cnn_weight_decay; the TimeSformer: align_lr /
#   align_weight_decay), biases, LayerNorms and embeddings without decay
#   (HDVILAOptimWrapperConstructor);
# - gradient norm clipped at 5.0 (grad_norm), fp16 with a dynamic loss
#   scale (apex O2 there: fp16 model with fp32 master weights; here
#   autocast with fp32 weights; tools/train.py turns it into bf16 autocast
#   on a machine without CUDA);
# - per-update warm-up over warmup_ratio of the updates, then the
#   multi_step decay (x0.5 at each milestone epoch, counted from the
#   updates as the scripts do) or linear decay to 0 (HDVILAWarmupDecayLR).
# Entry configs set the lrs, weight decays, milestones, warm-up ratio,
# epochs and gradient accumulation (accumulate: the wrapper's and the
# scheduler's must agree).
accumulate = 1
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    constructor='HDVILAOptimWrapperConstructor',
    optimizer=dict(
        type='HDVILAAdamW',
        lr=1e-5,
        betas=(0.9, 0.98),
        eps=1e-6,
        weight_decay=1e-3),
    paramwise_cfg=dict(
        cnn_lr=1e-5,
        cnn_weight_decay=1e-3,
        align_lr=1e-5,
        align_weight_decay=1e-3),
    clip_grad=dict(max_norm=5.0),
    accumulative_counts=accumulate)
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='multi_step',
        warmup_ratio=0.1,
        milestones=[],
        gamma=0.5,
        accumulative_counts=accumulate,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
