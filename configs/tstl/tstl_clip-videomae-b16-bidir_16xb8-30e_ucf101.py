# TSTL fused model fine-tuned on UCF101 (split 1): the UCF101 command of the
# saddy-paddy/TSTL README (16 GPUs = 8 nodes x 2, --batch_size 8
# --update_freq 6 --epochs 30 --drop_path 0.2 --layer_decay 0.75
# --mixup_prob 0.5 --mixup_switch_prob 0 --warmup_epochs 5
# --save_ckpt_freq 2), with the VideoMAE expert pre-trained on UCF101.
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb8-30e_ucf101.py 8
_base_ = [
    './_base_/models/tstl_bidir_clip-videomae-b16.py',
    './_base_/datasets/ucf101.py',
    './_base_/schedules/adamw_layer-decay_cosine.py', './_base_/runtime.py'
]
gpus, batch, accumulate = 16, 8, 6
model = dict(
    backbone=dict(
        drop_path_rate=0.2,
        clip_pretrained='checkpoints/clip/ViT-B-16.pt',
        videomae_pretrained='checkpoints/videomae/'
        'videomae_vit-b16_ucf101_pretrain.pth'),
    cls_head=dict(num_classes=101),
    data_preprocessor=dict(blending=dict(num_classes=101, prob=0.5)))
train_dataloader = dict(batch_size=batch)
# lr = --lr x total batch / 256 (the total batch, as CAST computes it)
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=30)
default_hooks = dict(checkpoint=dict(interval=2))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
