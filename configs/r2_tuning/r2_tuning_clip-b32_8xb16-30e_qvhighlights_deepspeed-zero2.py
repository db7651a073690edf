# R2-Tuning on QVHighlights on 8 GPUs with DeepSpeed ZeRO-2 (fp16): the
# paper's total batch of 128 as 8 x 16, so the lr stays the paper's.
#   bash tools/dist_train.sh \
#       configs/r2_tuning/r2_tuning_clip-b32_8xb16-30e_qvhighlights_deepspeed-zero2.py 8
_base_ = [
    './r2_tuning_clip-b32_1xb128-30e_qvhighlights.py',
    '../_base_/strategies/deepspeed_zero2.py'
]
train_dataloader = dict(batch_size=16)
