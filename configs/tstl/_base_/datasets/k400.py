# Kinetics-400 as the official TSTL / CAST loader reads it
# (dataset/kinetics.py, VideoClsDataset): lists `<video>.mp4 <label>` (400
# classes), 16 frames 4 apart (--sampling_rate 4) from a random start,
# RandAugment + random-resized crop + flip; test 5 clips x 3 crops
# (--test_num_segment 5 --test_num_crop 3), validation 1 clip x centre crop.
_base_ = ['./ssv2.py']
data_root = 'data/kinetics400/videos/'
ann_file_train = 'data/kinetics400/annotations/train.csv'
ann_file_val = 'data/kinetics400/annotations/val.csv'
ann_file_test = 'data/kinetics400/annotations/val.csv'
num_classes = 400
train_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(type='DenseSampleFrames', clip_len=16, frame_interval=4),
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
        type='DenseSampleFrames',
        clip_len=16,
        frame_interval=4,
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
        type='DenseSampleFrames',
        clip_len=16,
        frame_interval=4,
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
