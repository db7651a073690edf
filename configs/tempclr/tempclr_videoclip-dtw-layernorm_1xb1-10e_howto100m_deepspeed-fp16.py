# The DTW / layernorm-only pre-training on DeepSpeed (MMEngine's
# FlexibleRunner): fp16 with a dynamic loss scale and fp32 master weights
# (fairseq --fp16), ZeRO stage 2, gradient clipping 2.0 inside DeepSpeed.
#   bash tools/dist_train.sh \
#       configs/tempclr/tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m_deepspeed-fp16.py 1
_base_ = [
    './tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py',
    '../_base_/strategies/deepspeed_zero2.py'
]
strategy = dict(
    fp16=dict(
        _delete_=True,
        enabled=True,
        loss_scale=0,
        initial_scale_power=7,
        loss_scale_window=128,
        hysteresis=2,
        min_loss_scale=1),
    # the overlay's inputs_to_half casts the float video features only
    # (the caption ids stay integers)
    gradient_clipping=2.0,
    train_micro_batch_size_per_gpu={{_base_.batch}},
    gradient_accumulation_steps=1)
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer=dict(
        type='Adam',
        lr={{_base_.optim_wrapper.optimizer.lr}},
        betas=(0.9, 0.98),
        eps=1e-8,
        weight_decay=0.0))
