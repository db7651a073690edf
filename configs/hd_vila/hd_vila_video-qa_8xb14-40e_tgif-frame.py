# HD-VILA on TGIF-QA FrameQA (src/configs/tgif_frame_qa.json,
# tasks/run_video_qa.py): the cross-modal answer classifier (official
# HDVILAForSequenceClassification, 1540 answers: max(len(ans2label), 1540))
# fine-tuned from the stage-2 pre-trained model (hdvila_stage2.pt, its keys
# converted to this project's names).
#   python projects/hd_vila/tools/convert_official.py \
#       data/pretrained/hdvila_stage2.pt \
#       checkpoints/hd_vila_stage2_qa.pth --model qa
#   bash tools/dist_train.sh \
#       configs/hd_vila/hd_vila_video-qa_8xb14-40e_tgif-frame.py 8
# GPUs: the README leaves $NUM_GPUS open; the authors fine-tuned on 8 V100s
# (microsoft/XPretrain issue #3): 8 GPUs x 14 questions x 4 accumulated
# steps, a global batch of 448.
# Epochs: num_train_epochs 40 counts passes over the questions (one item
# per question), as max_epochs does here.
# Schedule: lr 4e-5 and weight decay 0.3 for all three parameter sets, 10%
# warm-up (the default warmup_ratio), x0.5 at epochs 10, 15, ..., 35
# (after 35: x0.5^7, the official multi_step skips x0.5^6), fp16, gradient
# norm 5, seed 66; clip logits averaged (score_agg_func: default 'mean').
# Validation: the official run validates 40 times (num_valid), about once
# per epoch, and reports the best accuracy; here after every epoch,
# keeping the best. `tools/test.py` runs the inference on the test split.
_base_ = [
    './_base_/models/hd_vila_video-qa.py', './_base_/datasets/tgif_frameqa.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
model = dict(
    num_labels=1540,
    score_agg_func='mean',
    init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/hd_vila_stage2_qa.pth'))
gpus, batch, accumulate = 8, 14, 4
train_dataloader = dict(batch_size=batch)
optim_wrapper = dict(
    optimizer=dict(lr=4e-5, weight_decay=0.3),
    paramwise_cfg=dict(
        cnn_lr=4e-5,
        cnn_weight_decay=0.3,
        align_lr=4e-5,
        align_weight_decay=0.3),
    accumulative_counts=accumulate)
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='multi_step',
        warmup_ratio=0.1,
        milestones=[10, 15, 20, 25, 30, 35],
        gamma=0.5,
        accumulative_counts=accumulate,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=40, val_interval=1)
default_hooks = dict(
    checkpoint=dict(save_best='tgif_frameqa/overall_acc', rule='greater'))
randomness = dict(seed=66)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
