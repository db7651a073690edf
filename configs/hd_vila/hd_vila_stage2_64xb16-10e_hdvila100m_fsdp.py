# The BERT-large stage-2 pre-training on FSDP (full sharding) with bf16
# mixed precision (the official apex O2 ran fp16), 64 GPUs x 16 with 2
# accumulated steps; the optimizer wrapper clips the global gradient norm
# over all shards (tools/train.py picks the FSDP wrapper).
#   bash tools/slurm_train.sh PARTITION hd_vila_s2 \
#       configs/hd_vila/hd_vila_stage2_64xb16-10e_hdvila100m_fsdp.py
_base_ = [
    './hd_vila_stage2_64xb16-10e_hdvila100m.py',
    '../_base_/strategies/fsdp_bf16.py'
]
