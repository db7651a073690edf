# Zero-shot CrossTask with the tiny model of
# `tempclr_tiny_1xb1-2e_synthetic-shards.py` on the synthetic release of
# `projects/tempclr/tools/write_synthetic_data.py` (two primary tasks,
# n_train=2; windows of 16 s every 8 s):
#   python tools/test.py configs/tempclr/tempclr_tiny-zeroshot_1xb1_synthetic-crosstask.py \
#       work_dirs/tempclr_tiny_1xb1-2e_synthetic-shards/epoch_2.pth
_base_ = ['./tempclr_tiny_1xb1-2e_synthetic-shards.py']
model = dict(
    _delete_=True,
    type='TempCLRStepLocalizer',
    bert_config={{_base_.tiny_bert}},
    video_layers=1,
    input_dim=32,
    max_video_len={{_base_.max_video_len}},
    cls_token_id=2,
    sep_token_id=3,
    data_preprocessor=dict(type='TempCLRDataPreprocessor'))
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'),
    dataset=dict(
        type='CrossTaskDataset',
        data_root='data/tempclr_synthetic/crosstask/',
        vocab_file='data/tempclr_synthetic/vocab.txt',
        split='test',
        n_train=2,
        seed=0,
        sliding_window=8,
        sliding_window_size=16,
        max_video_len={{_base_.max_video_len}},
        max_len={{_base_.max_len}},
        test_mode=True))
test_evaluator = dict(_delete_=True, type='CrossTaskMetric')
test_cfg = dict(type='TestLoop')
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
custom_hooks = []
default_hooks = dict(checkpoint=dict(save_best=None))
