# The DTW / layernorm-only pre-training on FSDP (full sharding, bf16 mixed
# precision). Only the layer norms train, so sharding saves mostly the
# frozen BERT and video-transformer weights.
#   bash tools/dist_train.sh \
#       configs/tempclr/tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m_fsdp.py 1
_base_ = [
    './tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py',
    '../_base_/strategies/fsdp_bf16.py'
]
