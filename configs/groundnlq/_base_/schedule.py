# Official optimisation (houzhijian/GroundNLQ libs/utils/train_utils.py):
# AdamW, weight decay 0.05 on conv / linear weights only, gradient clipping
# at L2 norm 1.0, linear warm-up from 0 then cosine annealing to 1e-8, both
# stepped every iteration, EMA of the weights with decay 0.999.
# Entry configs set the learning rate after the official per-GPU scaling
# (train.py multiplies the yaml value by torch.cuda.device_count()).
warmup_epochs = 4
max_epochs = 10
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='GroundNLQOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2.5e-5, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2))
# official LinearWarmupCosineAnnealingLR: lr_k = k / (W - 1) * base during
# the W warm-up iterations (LinearLR reaches base at W instead of W - 1,
# and cannot start at exactly 0)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-8,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-8,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False)
