# TGIF-QA Transition (src/configs/tgif_transition_qa.json, task
# 'transition'): 5 options per question, each read as "question option"
# (max_txt_len 30); transition_{train,val,test}.jsonl, one item per
# question. Clips: see tgif_pipelines.py. Batch 12 per GPU for training and
# validation, 4 for the inference (inference_batch_size).
_base_ = ['./tgif_pipelines.py']
tgif_transition = dict(
    type='HDVILATGIFMultipleChoiceDataset',
    vocab_file={{_base_.tgif_vocab}},
    max_txt_len=30,
    task='transition',
    num_options=5,
    data_prefix=dict(video='data/tgif_qa/videos_mp4'))
train_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_transition,
        ann_file='data/tgif_qa/transition_train.jsonl',
        pipeline={{_base_.tgif_train_pipeline}}))
val_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_transition,
        ann_file='data/tgif_qa/transition_val.jsonl',
        pipeline={{_base_.tgif_val_pipeline}},
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate'),
    dataset=dict(
        tgif_transition,
        ann_file='data/tgif_qa/transition_test.jsonl',
        pipeline={{_base_.tgif_test_pipeline}},
        test_mode=True))
val_evaluator = dict(type='MultipleChoiceMetric', prefix='tgif_transition')
test_evaluator = val_evaluator
