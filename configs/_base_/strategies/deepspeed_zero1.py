# DeepSpeed, ZeRO stage 1: the optimizer states (fp32 master weights, Adam
# moments) are partitioned over the ranks; gradients and weights are
# replicated. fp16 with a dynamic loss scale (2^16 to start, halved on
# overflow after 2 tries, doubled after 1000 clean steps) and fp32 master
# weights; on a machine without CUDA tools/train.py switches to bf16. The
# method config's optimizer, constructor and paramwise_cfg stay;
# tools/train.py moves its clip_grad, accumulative_counts and batch size into
# this strategy.
#   tools/dist_train.sh CONFIG 8 --strategy deepspeed_zero1
#   (or _base_ = [METHOD_CONFIG, '../_base_/strategies/deepspeed_zero1.py'])
strategy = dict(
    type='DeepSpeedStrategy',
    # the methods' optimizers are torch's (built by MMEngine, with their
    # parameter groups); ZeRO partitions their states like any other
    config=dict(zero_allow_untested_optimizer=True),
    fp16=dict(
        enabled=True,
        loss_scale=0,
        initial_scale_power=16,
        loss_scale_window=1000,
        hysteresis=2,
        min_loss_scale=1),
    # the data preprocessor's float tensors follow the weights' dtype
    inputs_to_half=['inputs'],
    zero_optimization=dict(
        stage=1,
        reduce_bucket_size=50000000,
        allgather_bucket_size=50000000))
