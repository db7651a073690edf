# TempCLR pre-training on HowTo100M with soft OTAM (both directions summed)
# in the alignment loss, only the LayerNorms trained (released weights:
# checkpoint_layernorm_OTAM); everything else as the DTW config.
#   python tools/train.py \
#       configs/tempclr/tempclr_videoclip-otam-layernorm_1xb1-10e_howto100m.py
_base_ = ['./tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py']
alignment_metric = 'otam'
model = dict(alignment_loss=dict(metric=alignment_metric))
