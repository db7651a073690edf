# TempCLR pre-training with every parameter trained (layernorm_only: False;
# released weights: checkpoint_allparameters_DTW). The paper's tables mix
# the two: see projects/tempclr/README.md for which checkpoint each comes
# from (TempCLR issue #3).
_base_ = ['./tempclr_videoclip-dtw-layernorm_1xb1-10e_howto100m.py']
model = dict(trainable='all')
