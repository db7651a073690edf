# HD-VILA on MSRVTT-QA (src/configs/msrvtt_qa.json, tasks/run_video_qa.py):
# the cross-modal answer classifier (official
# HDVILAForSequenceClassification, 1500 answers: max(len(ans2label), 1500)),
# clip scores pooled by log-sum-exp (score_agg_func 'lse'), fine-tuned from
# the stage-2 pre-trained model (hdvila_stage2.pt, its keys converted to
# this project's names).
#   python projects/hd_vila/tools/convert_official.py \
#       data/pretrained/hdvila_stage2.pt \
#       checkpoints/hd_vila_stage2_qa.pth --model qa
#   bash tools/dist_train.sh \
#       configs/hd_vila/hd_vila_video-qa_8xb16-20e_msrvtt-qa.py 8
# GPUs: the README leaves $NUM_GPUS open; the authors fine-tuned on 8 V100s
# (microsoft/XPretrain issue #3): 8 GPUs x 16 questions x 4 accumulated
# steps, a global batch of 512.
# Epochs: num_train_epochs 20 counts passes over the questions (one item
# per question), as max_epochs does here.
# Schedule: lr 1e-5 and weight decay 0.3 for all three parameter sets, 10%
# warm-up (the default warmup_ratio), then linear decay to 0 (decay
# 'linear'), fp16, gradient norm 5, seed 66. The config's dropout 0.3 is
# never read (BERT's 0.1 applies).
# Validation: the official run validates 20 times (num_valid), about once
# per epoch, and reports the best accuracy; here after every epoch,
# keeping the best. `tools/test.py` runs the inference on the test split.
_base_ = [
    './_base_/models/hd_vila_video-qa.py', './_base_/datasets/msrvtt_qa.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
model = dict(
    num_labels=1500,
    score_agg_func='lse',
    init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/hd_vila_stage2_qa.pth'))
gpus, batch, accumulate = 8, 16, 4
train_dataloader = dict(batch_size=batch)
optim_wrapper = dict(
    optimizer=dict(lr=1e-5, weight_decay=0.3),
    paramwise_cfg=dict(
        cnn_lr=1e-5,
        cnn_weight_decay=0.3,
        align_lr=1e-5,
        align_weight_decay=0.3),
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
train_cfg = dict(max_epochs=20, val_interval=1)
default_hooks = dict(
    checkpoint=dict(save_best='msrvtt_qa/overall_acc', rule='greater'))
randomness = dict(seed=66)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
