# R2-Tuning on Charades-STA (official configs/charades/r2_tuning_charades.py)
_base_ = [
    './_base_/model.py', './_base_/datasets/charades_sta.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
model = dict(
    dropout=0.35,
    loss_cfg=dict(loss_weights=dict(loss_sal=0.01)),
    # windows rounded to 0.1 s, linear NMS
    test_cfg=dict(nms_cfg=dict(_delete_=True, type='linear'), unit=0.1))
max_epochs = 50
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
# the total batch (1 GPU x 32) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=32)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[30],
        gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(save_best='mr/MR-full-mAP'))
