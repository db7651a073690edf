# HD-VILA-100M pre-training clips (src/configs/pretrain_stage{1,2}.json,
# datasets/dataset_pretrain.py): {"clip_id", "text"} records, one caption
# per clip, the clip at <video_clips>/<video id>/<clip_id> (layout
# 'nested'). The official trainer walks 12 shard files per epoch
# (train_group/part<i>.jsonl, reloading the loader after 98% of each);
# here an epoch is the 12 shards concatenated. Every item (training and
# validation alike, as the official loader): 2 random clips (train_n_clips)
# of 7 frames 12 apart (sample_rate), every frame resized to 720x1280, one
# random 640x1024 window (crop_size), no flip: the keyframe is the window,
# the other frames the window shrunk x1/4 (160x256; the released
# get_images leaves them at 640x1024, which its own model cannot take),
# captions of up to 50 tokens (max_txt_len). Validation: MSR-VTT 1k-A on
# the original videos through the same loader (layout 'flat'; the
# official run also evaluates two HD-VILA test sets that are not
# released).
hdvila_root = 'data/hdvila/'
hdvila_vocab = 'data/pretrained/bert-base-uncased/vocab.txt'
hdvila_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=2,
        num_frm=7,
        sample_rate=12,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAPretrainResizeCrop',
        frame_size=(720, 1280),
        crop_size=(640, 1024),
        keyframe='high_res'),
    dict(
        type='PackHDVILAInputs',
        meta_keys=('sample_idx', 'qid', 'video_id', 'clip_id', 'question_id',
                   'answer', 'answer_type', 'answer_label', 'gt_label',
                   'filename', 'frame_inds', 'crop_box', 'flip',
                   'itm_label'))
]
hdvila_clips = dict(
    type='HDVILAPretrainDataset',
    vocab_file=hdvila_vocab,
    max_txt_len=50,
    layout='nested',
    data_prefix=dict(video=hdvila_root + 'video_clips'),
    pipeline=hdvila_pipeline)
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(
                hdvila_clips,
                ann_file=f'{hdvila_root}train_group/part{i}.jsonl')
            for i in range(1, 13)
        ]))
val_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        hdvila_clips,
        ann_file='data/msrvtt_retrieval/test1ka.jsonl',
        layout='flat',
        data_prefix=dict(video='data/msrvtt_retrieval/videos'),
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TextVideoRetrievalMetric', protocol='hd_vila', prefix='msrvtt')
test_evaluator = val_evaluator
