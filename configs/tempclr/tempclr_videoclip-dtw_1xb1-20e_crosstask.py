# CrossTask step localisation fine-tuning (official configs/crosstask.yaml,
# task AlignLocalTask): per-frame step scores trained with BCE plus the step
# alignment loss (soft DTW over the annotated step order against 31 shuffled
# orders, frames shuffled within each step run, 10 frames kept per step),
# weighted (1 - 0.12) and 0.12; every parameter trains. Starts from
# VideoCLIP's checkpoint_best.pt (converted, see the pre-training config) or
# a TempCLR checkpoint: set model.init_cfg.checkpoint. One video per step,
# 20 epochs, lr 5e-5 with 122 warm-up updates; the official split (seed 0,
# 30 training videos per primary task). Tested with CrossTaskMetric
# (recall per task, averaged; official test_crosstask.yaml).
#   python tools/train.py configs/tempclr/tempclr_videoclip-dtw_1xb1-20e_crosstask.py
_base_ = [
    './_base_/models/tempclr_videoclip_bert-base.py',
    './_base_/datasets/crosstask.py', './_base_/schedules/adam_poly_fp16.py',
    './_base_/runtime.py'
]
model = dict(
    _delete_=True,
    type='TempCLRStepLocalizer',
    bert_config=dict(),
    video_layers=6,
    input_dim=512,
    max_video_len=32,
    step_alignment_loss=dict(
        type='StepAlignmentLoss',
        metric='dtw',
        total_sample_size=32,
        video_sampling_multiplier=10,
        inner_shuffling=True,
        lbda=0.1,
        eps=0.01),
    alignment_loss_weight=0.12,
    trainable='all',
    data_preprocessor=dict(type='TempCLRDataPreprocessor'),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/videoclip_checkpoint_best.pth'))
optim_wrapper = dict(optimizer=dict(lr=5e-5))
warmup_updates = 122
param_scheduler = [dict(
    type='PolyDecayWithWarmupLR',
    warmup_updates=warmup_updates,
    total_updates=1000000,
    power=1.0,
    end_value=0.0,
    by_epoch=False)]
gpus, batch = 1, 1
# the official run keeps every epoch's checkpoint and tests checkpoint20
train_cfg = dict(max_epochs=20)
val_cfg = None
val_dataloader = None
val_evaluator = None
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
