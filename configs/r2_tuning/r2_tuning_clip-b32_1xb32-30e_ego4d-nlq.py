# R2-Tuning on Ego4D-NLQ (official configs/ego4d/r2_tuning_ego4d.py)
_base_ = [
    './_base_/model.py', './_base_/datasets/ego4d_nlq.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
model = dict(
    dropout=0.3, test_cfg=dict(nms_cfg=dict(_delete_=True, type='linear')))
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
# the total batch (1 GPU x 32) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(checkpoint=dict(save_best='mr/MR-full-mAP'))
