# The SSv2 fine-tuning on FSDP (full sharding) with bf16 mixed precision,
# the official 16 GPUs x 6 with 4 accumulated steps (effective batch 384).
# The frozen CLIP / VideoMAE weights are sharded with the trainable ones.
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_fsdp.py 16
_base_ = [
    './tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py',
    '../_base_/strategies/fsdp_bf16.py'
]
