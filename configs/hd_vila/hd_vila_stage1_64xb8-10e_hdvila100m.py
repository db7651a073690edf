# HD-VILA pre-training, stage 1 (src/configs/pretrain_stage1.json,
# src/pretrain/run_pretrain_stage1_group.py): the dual encoder trained by
# video-text contrast on HD-VILA-100M, from the official start (the
# mmdetection ResNet-50 in cnn and cnn_low, bert-large-uncased in the
# transformer: load_separate_ckpt), converted to this project's names by
#   python projects/hd_vila/tools/convert_official.py \
#       data/pretrained/res50_mmdetection.pth \
#       data/pretrained/bert-large-uncased \
#       checkpoints/hd_vila_stage1_init.pth --model stage1
#   bash tools/dist_train.sh \
#       configs/hd_vila/hd_vila_stage1_64xb8-10e_hdvila100m.py 8  # x 8 nodes
# GPUs: the README leaves $NUM_GPUS open; the paper pre-trains on 64 V100s
# (quoted in microsoft/XPretrain issue #3): 64 GPUs x 8 clips, a global
# batch of 512 (gradient_accumulation_steps 1).
# Epochs: num_train_epochs 10 counts passes over the clips (12 shard files
# per epoch, one clip and its transcript per record); max_epochs = 10
# passes over the 12 shards here.
# Schedule: lr 5e-5 and weight decay 1e-3 for all three parameter sets,
# 10% warm-up (the default warmup_ratio), linear decay to 0 (decay
# 'linear'), fp16, gradient norm 5, seed 24.
# Validation: the official run evaluates every 1000 updates; here after
# every epoch, keeping the best MSR-VTT t2v R@1.
_base_ = [
    './_base_/models/hd_vila_stage1.py', './_base_/datasets/hdvila100m.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
model = dict(
    init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/hd_vila_stage1_init.pth'))
gpus, batch = 64, 8
train_dataloader = dict(batch_size=batch)
optim_wrapper = dict(
    optimizer=dict(lr=5e-5, weight_decay=1e-3),
    paramwise_cfg=dict(
        cnn_lr=5e-5,
        cnn_weight_decay=1e-3,
        align_lr=5e-5,
        align_weight_decay=1e-3))
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='linear',
        warmup_ratio=0.1,
        accumulative_counts=1,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=10, val_interval=1)
default_hooks = dict(
    checkpoint=dict(save_best='msrvtt/t2v_R1', rule='greater'))
randomness = dict(seed=24)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
