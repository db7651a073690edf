# TGIF-QA Action (src/configs/tgif_action_qa.json, task 'action'): 5
# options per question, each read as "question option" (max_txt_len 30);
# action_{train,val,test}.jsonl, one item per question. Clips: see
# tgif_pipelines.py. Batch 12 per GPU for training and validation, 4
# for the inference (inference_batch_size).
_base_ = ['./tgif_pipelines.py']
tgif_action = dict(
    type='HDVILATGIFMultipleChoiceDataset',
    vocab_file={{_base_.tgif_vocab}},
    max_txt_len=30,
    task='action',
    num_options=5,
    data_prefix=dict(video='data/tgif_qa/videos_mp4'))
train_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_action,
        ann_file='data/tgif_qa/action_train.jsonl',
        pipeline={{_base_.tgif_train_pipeline}}))
val_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_action,
        ann_file='data/tgif_qa/action_val.jsonl',
        pipeline={{_base_.tgif_val_pipeline}},
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_action,
        ann_file='data/tgif_qa/action_test.jsonl',
        pipeline={{_base_.tgif_test_pipeline}},
        test_mode=True))
val_evaluator = dict(type='MultipleChoiceMetric', prefix='tgif_action')
test_evaluator = val_evaluator
