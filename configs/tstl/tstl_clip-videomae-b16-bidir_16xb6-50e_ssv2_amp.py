# The SSv2 fine-tuning with automatic mixed precision (fp16 autocast and
# loss scaling on GPU; tools/train.py turns it into bf16 autocast on a
# machine without CUDA).
#   bash tools/dist_train.sh \
#       configs/tstl/tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2_amp.py 8
_base_ = ['./tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py']
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
