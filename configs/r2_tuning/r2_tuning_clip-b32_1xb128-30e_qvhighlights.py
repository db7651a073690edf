# R2-Tuning on QVHighlights (official configs/qvhighlights/r2_tuning_qvhighlights.py)
_base_ = [
    './_base_/model.py', './_base_/datasets/qvhighlights.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
# windows rounded to 2-s units, normal NMS at 0.7 (official evaluate)
model = dict(test_cfg=dict(nms_cfg=dict(type='normal', thres=0.7), unit=2.0))
# model selection: the first of the official EvalHook high_keys present
default_hooks = dict(checkpoint=dict(save_best='qvhighlights/MR-full-mAP'))
