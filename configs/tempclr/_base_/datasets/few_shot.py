# Few-shot action recognition episodes over stored per-frame (or
# per-second) video features: a `class/video` list in the layout of the
# CMN / TRX few-shot splits and a feature store with each video's [T, D]
# features. 10,000 seeded 5-way episodes of 1 support and 1 query video per
# class, 8 features per video, evaluated one episode per step.
few_shot_data_root = 'data/few_shot/'
few_shot_dataset = dict(
    type='FewShotEpisodeDataset',
    data_root=few_shot_data_root,
    ann_file='test.txt',
    feature_store=dict(
        type='DirectoryStore', root=few_shot_data_root + 'features'),
    num_ways=5,
    num_shots=1,
    num_queries=1,
    num_episodes=10000,
    num_frames=8,
    seed=0,
    test_mode=True)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=few_shot_dataset)
test_evaluator = dict(type='FewShotAccuracyMetric')
