# MSR-VTT retrieval (src/configs/msrvtt_retrieval.json): train9k.jsonl (one
# record per training video with its 20 captions in a list; each read of a
# record draws one of them, as the official loader does) and the 1k-A test
# (test1ka.jsonl, one caption per video), videos re-encoded at 6 fps
# (videos_6fps). Training: 2 random clips of 7 frames 4 apart, frames
# resized to 180x288, a random 160x256 crop, flipped with probability 1/3,
# the keyframe the crop's middle frame upsampled x4 (640x1024). The
# official validation is its inference pass (4 evenly spaced clips, centre
# crop, batch 8 per GPU), so the val and test loaders are one.
msrvtt_root = 'data/msrvtt_retrieval/'
msrvtt_vocab = 'data/pretrained/bert-base-uncased/vocab.txt'
msrvtt_train_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=2,
        num_frm=7,
        sample_rate=4,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(160, 256),
        train=True,
        resize_size=(180, 288),
        keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
msrvtt_test_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=4,
        num_frm=7,
        sample_rate=4,
        random_clips=False),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(160, 256),
        train=False,
        resize_size=(180, 288),
        keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
msrvtt_retrieval = dict(
    type='HDVILAVideoRetrievalDataset',
    vocab_file=msrvtt_vocab,
    max_txt_len=50,
    vis_format='video',
    data_prefix=dict(video=msrvtt_root + 'videos_6fps'))
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        msrvtt_retrieval,
        ann_file=msrvtt_root + 'train9k.jsonl',
        pipeline=msrvtt_train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        msrvtt_retrieval,
        ann_file=msrvtt_root + 'test1ka.jsonl',
        pipeline=msrvtt_test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TextVideoRetrievalMetric', protocol='hd_vila', prefix='msrvtt')
test_evaluator = val_evaluator
