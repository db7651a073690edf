# Official optimisation (houzhijian/GroundNLQ libs/utils/train_utils.py):
# AdamW, weight decay 0.05 on conv / linear weights only, gradient clipping
# at L2 norm 1.0, linear warm-up from 0 then cosine annealing to 1e-8, both
# stepped every iteration (the shared cosine_warmup schedule), EMA of the
# weights with decay 0.999 (runtime.py).
# Entry configs set the learning rate after the official per-GPU scaling
# (train.py multiplies the yaml value by torch.cuda.device_count()).
# The official LinearWarmupCosineAnnealingLR gives lr_k = k / (W - 1) * base
# during the W warm-up iterations; LinearLR reaches base at W instead of
# W - 1 and cannot start at exactly 0.
_base_ = ['../../_base_/schedules/cosine_warmup.py']
optim_wrapper = dict(
    constructor='GroundNLQOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2.5e-5, weight_decay=0.05))
auto_scale_lr = dict(enable=False)
