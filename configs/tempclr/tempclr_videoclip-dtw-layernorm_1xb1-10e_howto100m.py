# TempCLR pre-training on HowTo100M (official configs/how2.yaml): VideoCLIP's
# contrastive loss plus the sequence alignment loss with soft DTW, weighted
# (1 - 0.7) and 0.7, only the LayerNorms trained (layernorm_only: True, the
# official default; its released weights are checkpoint_layernorm_DTW).
# Starts from VideoCLIP's checkpoint_best.pt converted with
#   python projects/tempclr/tools/convert_official.py \
#       checkpoint_best.pt checkpoints/videoclip_checkpoint_best.pth
# One GPU, one item per step = 16 videos x 16 clips (256 clip-caption
# pairs), 10 epochs, lr 2e-5 with 1000 warm-up updates.
#   python tools/train.py \
#       configs/tempclr/tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py
# `tools/test.py` on the result evaluates zero-shot YouCook2 retrieval.
_base_ = [
    './_base_/models/tempclr_videoclip_bert-base.py',
    './_base_/datasets/howto100m.py', './_base_/datasets/youcook2.py',
    './_base_/schedules/adam_poly_fp16.py', './_base_/runtime.py'
]
alignment_metric = 'dtw'
trainable = 'layernorm'
model = dict(
    alignment_loss=dict(
        type='TemporalAlignmentLoss',
        metric=alignment_metric,
        clip_per_video=16,
        sampling_threshold=5,
        total_sample_size=32,
        lbda=0.1,
        eps=0.01),
    alignment_loss_weight=0.7,
    trainable=trainable,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/videoclip_checkpoint_best.pth'))
gpus, batch = 1, 1
train_cfg = dict(max_epochs=10)
# no validation during pre-training, as official
val_cfg = None
val_dataloader = None
val_evaluator = None
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
