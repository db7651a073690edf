# DeepSpeed, ZeRO stage 2: optimizer states and gradients are partitioned over
# the ranks; the 16-bit weights are replicated. Precision, input casting and
# the rest as deepspeed_zero1.py.
#   tools/dist_train.sh CONFIG 8 --strategy deepspeed_zero2
#   (or _base_ = [METHOD_CONFIG, '../_base_/strategies/deepspeed_zero2.py'])
_base_ = ['./deepspeed_zero1.py']
strategy = dict(
    zero_optimization=dict(
        _delete_=True,
        stage=2,
        allgather_partitions=True,
        reduce_scatter=True,
        allgather_bucket_size=50000000,
        reduce_bucket_size=50000000,
        overlap_comm=True,
        contiguous_gradients=True))
