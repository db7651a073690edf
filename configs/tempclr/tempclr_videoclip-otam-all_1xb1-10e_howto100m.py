# TempCLR pre-training with OTAM and every parameter trained (no official
# weights were released for this combination).
_base_ = ['./tempclr_videoclip-otam-layernorm_1xb1-10e_howto100m.py']
model = dict(trainable='all')
