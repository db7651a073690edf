# MSRVTT-MC (tasks/run_msrvtt_mc.py with src/configs/msrvtt_retrieval.json,
# README "MSRVTT Multi-choice Inference"): mc_test.jsonl, 5 caption options
# per test video, scored by the fine-tuned retrieval model; inference only:
# 4 evenly spaced clips (the retrieval config's inference_n_clips; the
# README leaves --inference_n_clips to the user) of 7 frames 4 apart,
# frames resized to 180x288, centre 160x256 crop, keyframe upsampled x4,
# batch 64 per GPU (--inference_batch_size 64).
msrvtt_mc_pipeline = [
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
test_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        type='HDVILAMSRVTTMCDataset',
        ann_file='data/msrvtt_retrieval/mc_test.jsonl',
        vocab_file='data/pretrained/bert-base-uncased/vocab.txt',
        max_txt_len=50,
        num_options=5,
        data_prefix=dict(video='data/msrvtt_retrieval/videos_6fps'),
        pipeline=msrvtt_mc_pipeline,
        test_mode=True))
test_evaluator = dict(type='MultipleChoiceMetric', prefix='msrvtt_mc')
