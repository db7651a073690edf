# ActivityNet Captions retrieval (src/configs/actnet_retrieval.json):
# video-paragraph retrieval, train.jsonl and val1.jsonl (the
# collaborative-experts split), one record per video (a list-valued text:
# one drawn per read).
# Frame folders (vis_format 'frame', scripts/process_raw_video/
# decode_frames.py): full-resolution frames under video_frames/<clip_id>/
# and their 180x288 copies under video_frames_lr/<clip_id>/; "num_frame"
# in each record. Training: 4 random clips of 13 frames 4 apart, a
# random 160x256 (8/9) crop of the low-resolution frames, flipped with
# probability 1/3, the keyframe the native middle frame resized to
# 720x1152 and cropped at the 4x window (640x1024). The official
# validation is its inference pass (8 evenly spaced clips, the crop
# at (h/18, w/18), batch 8 per GPU), so the val and test loaders are one.
activitynet_root = 'data/activitynet_retrieval/'
activitynet_vocab = 'data/pretrained/bert-base-uncased/vocab.txt'
activitynet_train_pipeline = [
    dict(
        type='SampleHDVILAClips',
        n_clips=4,
        num_frm=13,
        sample_rate=4,
        random_clips=True),
    dict(type='LoadHDVILAFrames', high_res_keyframes=True),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(160, 256),
        train=True,
        resize_size=None,
        keyframe='high_res',
        test_offset='ninth'),
    dict(type='PackHDVILAInputs')
]
activitynet_test_pipeline = [
    dict(
        type='SampleHDVILAClips',
        n_clips=8,
        num_frm=13,
        sample_rate=4,
        random_clips=False),
    dict(type='LoadHDVILAFrames', high_res_keyframes=True),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(160, 256),
        train=False,
        resize_size=None,
        keyframe='high_res',
        test_offset='ninth'),
    dict(type='PackHDVILAInputs')
]
activitynet_retrieval = dict(
    type='HDVILAVideoRetrievalDataset',
    vocab_file=activitynet_vocab,
    max_txt_len=50,
    vis_format='frame',
    data_prefix=dict(frames=activitynet_root + 'video_frames'))
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        activitynet_retrieval,
        ann_file=activitynet_root + 'train.jsonl',
        pipeline=activitynet_train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        activitynet_retrieval,
        ann_file=activitynet_root + 'val1.jsonl',
        pipeline=activitynet_test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TextVideoRetrievalMetric', protocol='hd_vila', prefix='activitynet')
test_evaluator = val_evaluator
