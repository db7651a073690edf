# R2-Tuning on YouTube Highlights, domain 'dog'
# (official configs/youtube/r2_tuning_youtube_dog.py)
_base_ = [
    './_base_/highlight_model.py', './_base_/datasets/youtube.py',
    './_base_/highlight_schedule.py', './_base_/runtime.py'
]
train_dataloader = dict(dataset=dict(domain='dog'))
val_dataloader = dict(dataset=dict(domain='dog'))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=200)
default_hooks = dict(checkpoint=dict(save_best='youtube/mAP'))
