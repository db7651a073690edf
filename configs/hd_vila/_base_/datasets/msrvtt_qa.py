# MSRVTT-QA (src/configs/msrvtt_qa.json, task 'msrvtt_qa'): open-ended
# questions (max_txt_len 100) answered from train_ans2label.json (a GT
# answer outside it trains nothing and is counted wrong);
# {train,val,test}.jsonl, one item per question, on the MSR-VTT videos at
# 6 fps (README: the retrieval videos; the config's inference_img_db names
# another copy of them); accuracy overall and per answer type. Training: 1
# random clip (train_n_clips) of 7 frames 4 apart, frames resized to
# 180x288 (reshape_size), a random 160x256 crop flipped with probability
# 1/3, the keyframe the crop's middle frame upsampled x4; validation during
# training: 1 random clip, centre crop, batch 16 per GPU; inference: 8
# evenly spaced clips, batch 4 per GPU (inference_batch_size).
msrvtt_qa_root = 'data/msrvtt_qa/'
msrvtt_qa_ans2label = msrvtt_qa_root + 'train_ans2label.json'
msrvtt_qa_train_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=1,
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
msrvtt_qa_val_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=1,
        num_frm=7,
        sample_rate=4,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(160, 256),
        train=False,
        resize_size=(180, 288),
        keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
msrvtt_qa_test_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=8,
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
msrvtt_qa = dict(
    type='HDVILAVideoQADataset',
    ans2label_file=msrvtt_qa_ans2label,
    vocab_file='data/pretrained/bert-base-uncased/vocab.txt',
    max_txt_len=100,
    task='msrvtt_qa',
    data_prefix=dict(video='data/msrvtt_retrieval/videos_6fps'))
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        msrvtt_qa,
        ann_file=msrvtt_qa_root + 'train.jsonl',
        pipeline=msrvtt_qa_train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        msrvtt_qa,
        ann_file=msrvtt_qa_root + 'val.jsonl',
        pipeline=msrvtt_qa_val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        msrvtt_qa,
        ann_file=msrvtt_qa_root + 'test.jsonl',
        pipeline=msrvtt_qa_test_pipeline,
        test_mode=True))
val_evaluator = dict(
    type='OpenEndedQAMetric',
    ans2label=msrvtt_qa_ans2label,
    task='msrvtt_qa',
    prefix='msrvtt_qa')
test_evaluator = val_evaluator
