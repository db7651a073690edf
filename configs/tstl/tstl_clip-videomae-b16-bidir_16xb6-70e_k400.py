# TSTL / CAST fused model fine-tuned on Kinetics-400: CAST's
# scripts/kinetics/k400.sh (16 GPUs, --batch_size 6 --update_freq 6
# --epochs 70 --drop_path 0.2 --layer_decay 0.75 --mixup_prob 0.5
# --mixup_switch_prob 0 --warmup_epochs 5 --save_ckpt_freq 25), with the
# VideoMAE expert pre-trained on K400.
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb6-70e_k400.py 8
_base_ = [
    './_base_/models/tstl_bidir_clip-videomae-b16.py',
    './_base_/datasets/k400.py',
    './_base_/schedules/adamw_layer-decay_cosine.py', './_base_/runtime.py'
]
gpus, batch, accumulate = 16, 6, 6
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        clip_pretrained='checkpoints/clip/ViT-B-16.pt',
        videomae_pretrained='checkpoints/videomae/'
        'videomae_vit-b16_k400_pretrain.pth'),
    cls_head=dict(num_classes=400),
    data_preprocessor=dict(blending=dict(num_classes=400, prob=0.5)))
train_dataloader = dict(batch_size=batch)
# lr = --lr x total batch / 256
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=70)
default_hooks = dict(checkpoint=dict(interval=25))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
