# DeepSpeed, ZeRO stage 3: optimizer states, gradients and the weights
# themselves are partitioned; each layer's weights are gathered for its
# forward and backward and released after. Precision, input casting and the
# rest as deepspeed_zero1.py.
#   tools/dist_train.sh CONFIG 8 --strategy deepspeed_zero3
#   (or _base_ = [METHOD_CONFIG, '../_base_/strategies/deepspeed_zero3.py'])
_base_ = ['./deepspeed_zero1.py']
strategy = dict(
    zero_optimization=dict(
        _delete_=True,
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        reduce_bucket_size=50000000,
        stage3_prefetch_bucket_size=50000000,
        stage3_param_persistence_threshold=100000,
        # the checkpoint's model file then holds whole 16-bit weights
        stage3_gather_16bit_weights_on_model_save=True))
