# The BERT-large stage-2 pre-training on DeepSpeed (MMEngine's
# FlexibleRunner): fp16 with a dynamic loss scale (apex O2's defaults:
# 2^16 to start, doubled after 2000 clean steps) and fp32 master weights,
# ZeRO stage 2, the gradient norm clipped at 5.0 inside DeepSpeed, the 2
# accumulated steps inside DeepSpeed (the lr schedule still counts them:
# accumulative_counts=2).
#   bash tools/dist_train.sh \
#       configs/hd_vila/hd_vila_stage2_64xb16-10e_hdvila100m_deepspeed-zero2-fp16.py 8
# inputs_to_half=['inputs'] casts the data preprocessor's `inputs` (the
# normalised keyframes and frames, float only) to the model's dtype; the
# token ids and masks ride on the data samples, which are not cast.
# HDVILAAdamW is not one of DeepSpeed's tested ZeRO optimizers, hence
# zero_allow_untested_optimizer. DeepSpeed casts the parameters to fp16 but
# keeps the buffers in fp32 unless told (data_types.buffer_dtype), and
# batch norm wants its running statistics in its weights' dtype: the
# ResNets' (frozen) BatchNorm statistics go to fp16 too (apex O2 kept the
# whole BatchNorm in fp32).
_base_ = [
    './hd_vila_stage2_64xb16-10e_hdvila100m.py',
    '../_base_/strategies/deepspeed_zero2.py'
]
strategy = dict(
    config=dict(data_types=dict(buffer_dtype='fp16')),
    fp16=dict(
        _delete_=True,
        enabled=True,
        loss_scale=0,
        initial_scale_power=16,
        loss_scale_window=2000,
        min_loss_scale=1),
    gradient_clipping=5.0,
    train_micro_batch_size_per_gpu={{_base_.batch}},
    gradient_accumulation_steps={{_base_.accumulate}})
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    constructor='HDVILAOptimWrapperConstructor',
    optimizer=dict(
        type='HDVILAAdamW',
        lr=5e-5,
        betas=(0.9, 0.98),
        eps=1e-6,
        weight_decay=1e-3),
    paramwise_cfg=dict(
        cnn_lr=5e-5,
        cnn_weight_decay=1e-3,
        align_lr=5e-5,
        align_weight_decay=1e-3))
