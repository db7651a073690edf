# fsdp.py with bf16 mixed precision: weights gathered and gradients reduced
# in bf16, fp32 sharded master weights and optimizer states, buffers
# (BatchNorm statistics) kept in fp32.
#   tools/dist_train.sh CONFIG 8 --strategy fsdp_bf16
_base_ = ['./fsdp.py']
strategy = dict(
    model_wrapper=dict(
        mixed_precision=dict(
            param_dtype='bfloat16',
            reduce_dtype='bfloat16',
            buffer_dtype='float32')))
