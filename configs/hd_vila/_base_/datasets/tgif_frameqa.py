# TGIF-QA FrameQA (src/configs/tgif_frame_qa.json, task 'frameqa'):
# open-ended questions (max_txt_len 30) answered from the 1540-answer
# vocabulary frameqa_trainval_ans2label.json (a GT answer outside it trains
# nothing and is counted wrong); frameqa_{train,val,test}.jsonl, one item
# per question; accuracy overall and per answer type. Clips: see
# tgif_pipelines.py. Batch 14 per GPU for training and validation, 4 for
# the inference (inference_batch_size).
_base_ = ['./tgif_pipelines.py']
tgif_ans2label = 'data/tgif_qa/frameqa_trainval_ans2label.json'
tgif_frameqa = dict(
    type='HDVILAVideoQADataset',
    ans2label_file=tgif_ans2label,
    vocab_file={{_base_.tgif_vocab}},
    max_txt_len=30,
    task='frameqa',
    data_prefix=dict(video='data/tgif_qa/videos_mp4'))
train_dataloader = dict(
    batch_size=14,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_frameqa,
        ann_file='data/tgif_qa/frameqa_train.jsonl',
        pipeline={{_base_.tgif_train_pipeline}}))
val_dataloader = dict(
    batch_size=14,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_frameqa,
        ann_file='data/tgif_qa/frameqa_val.jsonl',
        pipeline={{_base_.tgif_val_pipeline}},
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_frameqa,
        ann_file='data/tgif_qa/frameqa_test.jsonl',
        pipeline={{_base_.tgif_test_pipeline}},
        test_mode=True))
val_evaluator = dict(
    type='OpenEndedQAMetric',
    ans2label=tgif_ans2label,
    task='frameqa',
    prefix='tgif_frameqa')
test_evaluator = val_evaluator
