# EPIC-Kitchens-100 as the official CAST loader reads it (dataset/epic.py):
# comma-separated lists `<segment id>,<verb>,<noun>` (97 verbs, 300 nouns;
# `.mp4` is appended to the id), 16 frames by segment sampling, RandAugment
# + random-resized crop + flip; test 2 clips x 3 crops, validation 1 clip x
# centre crop. Scored as verb / noun / action accuracy (EpicKitchensMetric).
_base_ = ['./ssv2.py']
dataset_type = 'EpicKitchensDataset'
data_root = 'data/epic-kitchens-100/videos/'
ann_file_train = 'data/epic-kitchens-100/annotations/train.csv'
ann_file_val = 'data/epic-kitchens-100/annotations/val.csv'
ann_file_test = 'data/epic-kitchens-100/annotations/val.csv'
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
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(
        type='PackActionInputs',
        algorithm_keys=('noun_label', 'verb_label'))
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
    dict(
        type='PackActionInputs',
        algorithm_keys=('noun_label', 'verb_label'))
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
    dict(
        type='PackActionInputs',
        algorithm_keys=('noun_label', 'verb_label'))
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root),
        pipeline=test_pipeline,
        test_mode=True))
val_evaluator = dict(_delete_=True, type='EpicKitchensMetric')
test_evaluator = val_evaluator
