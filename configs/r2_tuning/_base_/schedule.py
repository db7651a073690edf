# Official configs/_base_/schedules/default.py: AdamW 5e-4 (wd 1e-4, one
# group, nothing excluded from decay), linear warm-up over 500 iterations
# from 0.001 * lr, x0.1 at epoch 20 of 30, grad clip 35, validation every
# epoch, fp16 AMP (launch.py's default; on CPU tools/train.py turns it into
# bf16 autocast).
_base_ = ['../../_base_/schedules/iter_warmup_step.py']
warmup_iters = 500
max_epochs = 30
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[20],
        gamma=0.1),
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(enable=False, base_batch_size=128)
