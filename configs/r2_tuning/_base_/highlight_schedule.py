# YouTube Highlights / TVSum: no lr decay (lr_schedule=None) and a 50-iteration
# warm-up; epochs set per benchmark.
_base_ = ['./schedule.py']
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=50),
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
