# TSTL inference: each test view goes to the selector's top-1 expert and
# the experts' logits are merged by max (engine_for_onemodel.py
# predict_with_topk_experts_batch, vote 'maxlogit'); views are merged by the
# mean of their softmax (the official merge). `vote='weighted'` with
# `top_k=5` is the official weighted variant. Checkpoints: the selector run
# and the 15 expert runs of the selector / expert configs (their last
# epochs; point them at the best_*.pth files to use those instead).
#   python tools/test.py \
#       configs/tstl/tstl_clip-videomae-b16-routed_1xb1_ssv2.py none
_base_ = ['./tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py']
grouping = 'configs/tstl/groupings/ssv2_class_grouping.json'
# the trained weights come from the checkpoints: no expert pre-training
_backbone = dict(
    type='TSTLBackbone', num_frames=16, tubelet_size=2, drop_path_rate=0.0)
model = dict(
    _delete_=True,
    type='TSTLRoutedRecognizer',
    selector=dict(
        type='Recognizer3D',
        backbone=_backbone,
        cls_head=dict(
            type='TSTLFusedHead', num_classes=15, average_clips='prob')),
    experts=dict(
        type='Recognizer3D',
        backbone=_backbone,
        cls_head=dict(
            type='TSTLFusedHead', num_classes=174, average_clips='prob')),
    selector_checkpoint='work_dirs/tstl_ssv2_selector/epoch_10.pth',
    expert_checkpoints='work_dirs/tstl_ssv2_expert-{}/epoch_10.pth',
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
