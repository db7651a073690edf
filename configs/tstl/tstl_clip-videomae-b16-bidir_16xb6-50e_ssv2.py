# TSTL / CAST fused model fine-tuned on Something-Something V2: CAST's
# scripts/ssv2/ssv2.sh (16 GPUs, --batch_size 6 --update_freq 4 --epochs 50
# --drop_path 0.3 --mixup_prob 0.9 --mixup_switch_prob 0 --warmup_epochs 5
# --save_ckpt_freq 25), with the VideoMAE expert pre-trained on SSv2.
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py 8
_base_ = [
    './_base_/models/tstl_bidir_clip-videomae-b16.py',
    './_base_/datasets/ssv2.py',
    './_base_/schedules/adamw_layer-decay_cosine.py', './_base_/runtime.py'
]
gpus, batch, accumulate = 16, 6, 4
model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        clip_pretrained='checkpoints/clip/ViT-B-16.pt',
        videomae_pretrained='checkpoints/videomae/'
        'videomae_vit-b16_ssv2_pretrain.pth'),
    cls_head=dict(num_classes=174),
    data_preprocessor=dict(blending=dict(num_classes=174, prob=0.9)))
train_dataloader = dict(batch_size=batch)
# lr = --lr x total batch / 256
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=50)
default_hooks = dict(checkpoint=dict(interval=25))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
