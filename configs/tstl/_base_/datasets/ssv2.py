# Something-Something V2 as the official TSTL / CAST loader reads it
# (dataset/ssv2.py): lists `<video>.mp4 <label>` (174 classes), 16 frames
# by segment sampling, RandAugment + random-resized crop, no flip (SSv2
# labels are direction-sensitive); test 2 clips x 3 crops
# (--test_num_segment 2 --test_num_crop 3), validation 1 clip x centre crop.
# SSv2's test labels are not public: val.csv is also the test list.
dataset_type = 'TSTLVideoDataset'
data_root = 'data/ssv2/videos/'  # --data_path (webm converted to mp4)
ann_file_train = 'data/ssv2/annotations/train.csv'  # --anno_path
ann_file_val = 'data/ssv2/annotations/val.csv'
ann_file_test = 'data/ssv2/annotations/val.csv'
num_classes = 174

train_pipeline = [
    dict(type='DecordWithPyAVInit'),
    dict(type='SegmentSampleFrames', num_segments=16),
    dict(type='DecordWithPyAVDecode'),
    dict(type='VideoRandAugment'),  # --aa rand-m7-n4-mstd0.5-inc1
    dict(
        type='RandomResizedCrop',
        area_range=(0.08, 1.0),
        aspect_ratio_range=(0.75, 1.3333)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
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
        num_clips=2,
        test_mode=True),
    dict(type='DecordWithPyAVDecode'),
    dict(type='ShortSideResize', short_side=224),
    dict(type='UniformThreeCrop', crop_size=224, num_crops=3),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=6,  # --batch_size (per GPU)
    num_workers=8,  # --num_workers
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=6,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        num_classes=num_classes,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(
    type='AccMetric',
    metric_list=('top_k_accuracy', 'mean_class_accuracy'),
    metric_options=dict(top_k_accuracy=dict(topk=(1, 5))))
test_evaluator = val_evaluator
