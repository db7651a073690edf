# The SSv2 fine-tuning on DeepSpeed in bf16 (no loss scaling; the official
# runs fp16: see the fp16 variant), with ZeRO stage 2, through MMEngine's
# FlexibleRunner. Gradient accumulation moves
# into DeepSpeed (--update_freq 4).
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_deepspeed-zero2-bf16.py 8
_base_ = [
    './tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py',
    '../_base_/strategies/deepspeed_zero2_bf16.py'
]
strategy = dict(
    train_micro_batch_size_per_gpu={{_base_.batch}},
    gradient_accumulation_steps={{_base_.accumulate}})
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    constructor='TSTLLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75),
    optimizer=dict(
        type='AdamW',
        lr={{_base_.optim_wrapper.optimizer.lr}},
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.05))
