# CrossTask as MMPT's crosstask.yaml / test_crosstask*.yaml read it: the
# release's task files, videos.csv / videos_val.csv, per-video annotation
# csvs and S3D features; the official random split (seed 0, n_train=30
# training videos per primary task, the rest and videos_val.csv for test);
# videos in windows of 32 s every 16 s. The official code silently drops
# listed videos without features or annotations, which the public release
# has: `missing='skip'` does that and logs the count (default 'error').
# One item is one video; batch 1 as official.
crosstask_data_root = 'data/crosstask/'
crosstask_dataset = dict(
    type='CrossTaskDataset',
    data_root=crosstask_data_root,
    vocab_file='data/bert-base-uncased/vocab.txt',
    primary_path='crosstask_release/tasks_primary.txt',
    related_path='crosstask_release/tasks_related.txt',
    train_csv_path='crosstask_release/videos.csv',
    val_csv_path='crosstask_release/videos_val.csv',
    annotation_path='crosstask_release/annotations',
    vfeat_dir='features',
    n_train=30,
    seed=0,
    sliding_window=16,
    sliding_window_size=32,
    max_video_len=32,
    max_len=96,
    missing='skip')
_loader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'))
train_dataloader = dict(
    _loader,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(crosstask_dataset, split='train'))
test_dataloader = dict(
    _loader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(crosstask_dataset, split='test', test_mode=True))
test_evaluator = dict(type='CrossTaskMetric')
