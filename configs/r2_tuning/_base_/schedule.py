# Official configs/_base_/schedules/default.py: AdamW 5e-4 (wd 1e-4, one
# group, nothing excluded from decay), linear warm-up over 500 iterations
# from 0.001 * lr, x0.1 at epoch 20 of 30, grad clip 35, validation every
# epoch (the shared iter_warmup_step schedule), plus fp16 AMP (launch.py's
# default; on CPU tools/train.py turns it into bf16 autocast).
_base_ = ['../../_base_/schedules/iter_warmup_step.py']
optim_wrapper = dict(type='AmpOptimWrapper', dtype='float16',
                     loss_scale='dynamic')
