# Install check: a linear regressor on generated data, seconds on CPU.
#   mim train vtg_plugins configs/smoke/smoke_linear_1xb4-4e_synthetic.py
#   tools/dist_train.sh configs/smoke/smoke_linear_1xb4-4e_synthetic.py 2
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/step.py']

custom_imports = dict(
    imports=['vtg_plugins', 'vtg_plugins.testing.toy'],
    allow_failed_imports=False)

model = dict(type='ToyRegressor', dim=8)

_dataset = dict(type='ToyRegressionDataset', dim=8, seed=0)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(_dataset, num_samples=32))
# 11 samples: not divisible by 2 or 4 ranks, so a distributed sampler pads
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(_dataset, num_samples=11))
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyRegressionMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
# the total batch (1 GPU x 4) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=4)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=False,
        begin=0,
        end=4),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=4, milestones=[3]),
]
train_cfg = dict(max_epochs=4, val_interval=2)
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(save_best='toy/mse', rule='less'))
custom_hooks = []
randomness = dict(seed=0)
