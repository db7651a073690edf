# PyTorch FSDP (full sharding: weights, gradients and optimizer states
# partitioned over the ranks, each wrapped unit gathered for its forward
# and backward), fp32. Checkpoints are whole state dicts written by rank 0
# (state_dict_cfg='full'): plain MMEngine checkpoints that tools/test.py
# loads on one process. tools/train.py makes the optimizer wrapper clip by
# the global norm over the shards, and places FSDP on the CPU without CUDA.
#   tools/dist_train.sh CONFIG 8 --strategy fsdp
#   (or _base_ = [METHOD_CONFIG, '../_base_/strategies/fsdp.py'])
strategy = dict(
    type='FSDPStrategy',
    state_dict_cfg='full',
    model_wrapper=dict(type='MMFullyShardedDataParallel'))
