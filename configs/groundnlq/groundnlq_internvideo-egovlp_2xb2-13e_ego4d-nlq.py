# GroundNLQ trained from scratch on Ego4D NLQ train (official
# configs/ego4d_nlq_v2_internvideo_1e-4.yaml with
# tools/train_ego4d_finetune_head_twogpu.sh): 2 GPUs x 2 clips, 5 warm-up
# + 8 cosine epochs.
_base_ = [
    './_base_/model.py', './_base_/datasets/ego4d_nlq.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
warmup_epochs = 5
max_epochs = 13
# official lr: 5e-5 in the yaml x torch.cuda.device_count() = 2 GPUs
# -> 1e-4 (the value in the yaml's file name)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
# the total batch (2 GPUs x 2) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=4)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-8,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-8,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
