# TSTL inference at toy size: every test view of the synthetic videos goes
# to the tiny selector's top-1 expert (max-logit vote), views merged by the
# mean softmax; checkpoints from the tiny selector / expert runs.
_base_ = ['./tstl_tiny_1xb4-6e_synthetic-videos.py']
grouping = 'configs/tstl/groupings/tiny_4-classes_2-groups.json'
_backbone = {{_base_.model.backbone}}
model = dict(
    _delete_=True,
    type='TSTLRoutedRecognizer',
    selector=dict(
        type='Recognizer3D',
        backbone=_backbone,
        cls_head=dict(
            type='TSTLFusedHead',
            num_classes=2,
            in_channels=32,
            average_clips='prob')),
    experts=dict(
        type='Recognizer3D',
        backbone=_backbone,
        cls_head=dict(
            type='TSTLFusedHead',
            num_classes=4,
            in_channels=32,
            average_clips='prob')),
    selector_checkpoint='work_dirs/tstl_tiny_selector/epoch_6.pth',
    expert_checkpoints='work_dirs/tstl_tiny_expert-{}/epoch_6.pth',
    grouping=grouping,
    top_k=1,
    vote='max_logit',
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
# test only: nothing to train
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
auto_scale_lr = None
