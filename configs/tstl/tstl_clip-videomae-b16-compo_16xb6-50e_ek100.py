# CAST compositional model (noun from the CLIP expert, verb from the
# VideoMAE expert) fine-tuned on EPIC-Kitchens-100: CAST's
# scripts/ek100/ek100.sh (16 GPUs, --batch_size 6 --update_freq 4
# --epochs 50 --drop_path 0.2 --mixup_prob 0.9 --mixup_switch_prob 0
# --warmup_epochs 5 --save_ckpt_freq 25), with the VideoMAE expert
# pre-trained on EK100.
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-compo_16xb6-50e_ek100.py 8
_base_ = [
    './_base_/models/tstl_compo_clip-videomae-b16.py',
    './_base_/datasets/ek100.py',
    './_base_/schedules/adamw_layer-decay_cosine.py', './_base_/runtime.py'
]
gpus, batch, accumulate = 16, 6, 4
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        clip_pretrained='checkpoints/clip/ViT-B-16.pt',
        videomae_pretrained='checkpoints/videomae/'
        'videomae_vit-b16_ek100_pretrain.pth'),
    data_preprocessor=dict(blending=dict(prob=0.9)))
train_dataloader = dict(batch_size=batch)
# lr = --lr x total batch / 256
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=50)
default_hooks = dict(
    checkpoint=dict(interval=25, save_best='acc/action_top1'))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
