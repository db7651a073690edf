# HD-VILA pre-training, stage 2 (src/configs/pretrain_stage2.json,
# src/pretrain/run_pretrain_stage2_group.py): masked language modelling
# through the cross-modal half of BERT-large on HD-VILA-100M, the stage-1
# parts frozen (freeze_s1). The official start loads the ResNet-50 and
# bert-large-uncased, then the stage-1 checkpoint (e2e_weights_path) over
# them; here the same two steps: the converted official start (the
# cross-modal layers 12-23 and the MLM head come from BERT), then the
# stage-1 run of hd_vila_stage1_64xb8-10e_hdvila100m.py (which holds no
# layers 12-23):
#   python projects/hd_vila/tools/convert_official.py \
#       data/pretrained/res50_mmdetection.pth \
#       data/pretrained/bert-large-uncased \
#       checkpoints/hd_vila_stage2_init.pth --model stage2
#   bash tools/dist_train.sh \
#       configs/hd_vila/hd_vila_stage2_64xb16-10e_hdvila100m.py 8  # x 8 nodes
# (From the official hdvila_stage1.pt instead: give it to the converter
# after the BERT folder and keep only the first init_cfg entry.)
# GPUs: the README leaves $NUM_GPUS open; the paper pre-trains on 64 V100s
# (quoted in microsoft/XPretrain issue #3): 64 GPUs x 16 clips x 2
# accumulated steps, a global batch of 2048.
# Epochs: num_train_epochs 10 counts passes over the clips (12 shard files
# per epoch); max_epochs = 10 passes over the 12 shards here.
# Schedule: lr 5e-5 and weight decay 1e-3, 10% warm-up (the default
# warmup_ratio), linear decay to 0, fp16, gradient norm 5, seed 24; only
# the transformer's groups have trainable parameters.
# Validation (the stage-1 retrieval features, which stage 2 leaves as
# they are): the official run every 500 updates; here after every epoch.
# The DeepSpeed ZeRO-2 variant: ..._deepspeed-zero2-fp16.py.
_base_ = [
    './_base_/models/hd_vila_stage2.py', './_base_/datasets/hdvila100m.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
model = dict(init_cfg=[
    dict(type='Pretrained', checkpoint='checkpoints/hd_vila_stage2_init.pth'),
    dict(
        type='Pretrained',
        checkpoint='work_dirs/hd_vila_stage1_64xb8-10e_hdvila100m/'
        'epoch_10.pth')
])
gpus, batch, accumulate = 64, 16, 2
train_dataloader = dict(batch_size=batch)
val_dataloader = dict(batch_size=16)  # val_batch_size
optim_wrapper = dict(
    optimizer=dict(lr=5e-5, weight_decay=1e-3),
    paramwise_cfg=dict(
        cnn_lr=5e-5,
        cnn_weight_decay=1e-3,
        align_lr=5e-5,
        align_weight_decay=1e-3),
    accumulative_counts=accumulate)
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='linear',
        warmup_ratio=0.1,
        accumulative_counts=accumulate,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=10, val_interval=1)
default_hooks = dict(checkpoint=dict(save_best=None))
randomness = dict(seed=24)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
