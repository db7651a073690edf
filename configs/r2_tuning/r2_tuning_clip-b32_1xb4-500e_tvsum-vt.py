# R2-Tuning on TVSum, domain 'VT' (official configs/tvsum/r2_tuning_tvsum_vt.py)
_base_ = [
    './_base_/highlight_model.py', './_base_/datasets/tvsum.py',
    './_base_/highlight_schedule.py', './_base_/runtime.py'
]
train_dataloader = dict(dataset=dict(domain='VT'))
val_dataloader = dict(dataset=dict(domain='VT'))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=500)
default_hooks = dict(checkpoint=dict(save_best='tvsum/mAP'))
