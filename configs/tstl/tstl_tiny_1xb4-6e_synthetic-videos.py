# A tiny TSTL on synthetic labelled videos (4 classes told apart by colour
# and direction of motion): written by
#   vtg_plugins.testing.action_videos.make_action_videos(
#       'data/tstl_synthetic', splits=dict(train=6, val=2), num_classes=4,
#       num_frames=8, size=(40, 48))
# The full recipe at toy size: decord/PyAV decoding, the official segment
# sampling, RandAugment, random-resized crop, mixup/cutmix, the layer-decay
# AdamW with warm-up + cosine, and the official test views (2 clips x
# 3 crops, softmax-averaged), in seconds on a CPU. Used by the end-to-end
# test; the selector / expert / routed tiny configs build on it.
_base_ = [
    './_base_/models/tstl_bidir_clip-videomae-b16.py',
    './_base_/datasets/ssv2.py',
    './_base_/schedules/adamw_layer-decay_cosine.py', './_base_/runtime.py'
]
data_root = 'data/tstl_synthetic/'
num_classes = 4
img = 32
model = dict(
    backbone=dict(
        img_size=img,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_frames=4,
        tubelet_size=2,
        drop_path_rate=0.1),
    cls_head=dict(num_classes=num_classes, in_channels=32),
    data_preprocessor=dict(
        blending=dict(num_classes=num_classes, prob=0.5)))
train_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(type='SegmentSampleFrames', num_segments=4),
    dict(type='DecordWithPyAVDecode'),
    dict(type='VideoRandAugment'),
    dict(
        type='RandomResizedCrop',
        area_range=(0.5, 1.0),
        aspect_ratio_range=(0.75, 1.3333)),
    dict(type='Resize', scale=(img, img), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(
        type='SegmentSampleFrames', num_segments=4, num_clips=2,
        test_mode=True),
    dict(type='DecordWithPyAVDecode'),
    dict(type='ShortSideResize', short_side=img),
    dict(type='UniformThreeCrop', crop_size=img, num_crops=3),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
_dataset = dict(
    type='TSTLVideoDataset',
    num_classes=num_classes,
    data_prefix=dict(video=data_root + 'videos/'))
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _dataset, ann_file=data_root + 'train.csv',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _dataset,
        ann_file=data_root + 'val.csv',
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
gpus, batch, accumulate = 1, 4, 1
optim_wrapper = dict(
    accumulative_counts=accumulate, optimizer=dict(lr=2e-2))
warmup_epochs = 1
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
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=6, val_interval=2)
default_hooks = dict(logger=dict(interval=2))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
