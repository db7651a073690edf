# UCF101 as the official TSTL loader builds it (dataset/datasets.py:
# VideoClsDataset(clip_len=1, num_segment=16, frame_sample_rate=4)): lists
# `<video>.avi <label>` (101 classes), one frame per segment whose random
# offset leaves the segment's last 4 frames out (end_margin=4),
# RandAugment + random-resized crop + flip. The official loader also samples
# val/test in train mode (random crops and flips); here they use real test
# views: 5 clips x 3 crops (--test_num_segment 5 --test_num_crop 3), and
# validation 1 clip x centre crop. Lists are the official split 1.
_base_ = ['./ssv2.py']
data_root = 'data/ucf101/videos/'
ann_file_train = 'data/ucf101/annotations/train.csv'
ann_file_val = 'data/ucf101/annotations/val.csv'
ann_file_test = 'data/ucf101/annotations/test.csv'
num_classes = 101
train_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(type='SegmentSampleFrames', num_segments=16, end_margin=4),
    dict(type='DecordWithPyAVDecode'),
    dict(type='VideoRandAugment'),  # --aa rand-m7-n4-mstd0.5-inc1
    dict(
        type='RandomResizedCrop',
        area_range=(0.08, 1.0),
        aspect_ratio_range=(0.75, 1.3333)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(
        type='SegmentSampleFrames',
        num_segments=16,
        num_clips=1,
        test_mode=True),
    dict(type='DecordWithPyAVDecode'),
    dict(type='ShortSideResize', short_side=224),
    dict(type='UniformThreeCrop', crop_size=224, num_crops=1),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(
        type='SegmentSampleFrames',
        num_segments=16,
        num_clips=5,
        test_mode=True),
    dict(type='DecordWithPyAVDecode'),
    dict(type='ShortSideResize', short_side=224),
    dict(type='UniformThreeCrop', crop_size=224, num_crops=3),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_train,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_val,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline))
test_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_test,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline))
