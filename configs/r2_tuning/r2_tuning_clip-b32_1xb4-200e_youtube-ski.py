# R2-Tuning on YouTube Highlights, domain 'skiing'
# (official configs/youtube/r2_tuning_youtube_ski.py)
_base_ = [
    './_base_/highlight_model.py', './_base_/datasets/youtube.py',
    './_base_/highlight_schedule.py', './_base_/runtime.py'
]
train_dataloader = dict(dataset=dict(domain='skiing'))
val_dataloader = dict(dataset=dict(domain='skiing'))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=200)
default_hooks = dict(checkpoint=dict(save_best='youtube/mAP'))
