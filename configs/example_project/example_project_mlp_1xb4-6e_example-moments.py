# The template of a method config. Name: {method}_{backbone}_{gpus}xb{batch}
# -{epochs}e_{dataset}.py, here the example project's MLP, 1 GPU x batch 4,
# 6 epochs, on the example moments shipped with the project. A real method
# cites the official config each value comes from, next to the value.
#   mim train vtg_plugins \
#       configs/example_project/example_project_mlp_1xb4-6e_example-moments.py
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/step.py']

# the shared layer first, then the project: both register on import
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_example_project'], allow_failed_imports=False)
default_scope = 'vtg_plugins'

feat_dim = 16
model = dict(type='ExampleMomentModel', in_dim=feat_dim, hidden_dim=32)

dataset_type = 'ExampleMomentDataset'
pipeline = [dict(type='PackExampleInputs')]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # videos differ in length: keep lists, the model pads
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type, split='train', feat_dim=feat_dim,
        pipeline=pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        split='val',
        feat_dim=feat_dim,
        pipeline=pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ExampleMomentMetric', thresholds=(0.5, 0.7))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=3e-2, weight_decay=1e-4))
# the total batch (1 GPU x 4) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=4)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=6, milestones=[5]),
]
train_cfg = dict(max_epochs=6, val_interval=2)
default_hooks = dict(
    logger=dict(interval=2),
    # model selection on the method's key metric
    checkpoint=dict(save_best='example/mIoU', rule='greater'))
randomness = dict(seed=0)
