# A tiny GroundNLQ on synthetic Ego4D NLQ data (vtg_plugins.testing
# .make_ego4d_nlq(root, vid_dim=64, txt_dim=32)): the full pipeline (LMDB
# stores, official nested json, EMA, Ego4D NLQ metric, EvalAI dump) in
# seconds on a CPU. Used by the end-to-end test and as a demo.
_base_ = [
    './_base_/model.py', './_base_/datasets/ego4d_nlq.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
data_root = 'data/synthetic_ego4d_nlq/'
ann_dir = 'ego4d_data/ego4d_nlq_v2_ori_data/'
model = dict(
    input_vid_dim=64,
    input_txt_dim=32,
    embd_dim=32,
    backbone_arch=(2, 1, 1, 0, 2),
    n_head=2,
    max_seq_len=64,
    regression_range=[(0, 4), (2, 8), (4, 10000)],
    # a handful of positives per batch: the official 200 would make the
    # first iterations' losses tiny
    train_cfg=dict(init_loss_norm=2))
# the official recipes at the synthetic width (what make_ego4d_nlq writes:
# vtg_plugins.testing.synthetic.ego4d_nlq_recipes(vid_dim=64))
_stores = dict(
    data_root=data_root,
    video_store=dict(type='LMDBStore', root='lmdb/video_features'),
    query_store=dict(type='LMDBStore', root='lmdb/text_features'),
    recipe=dict(feat_dim=64))
train_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=_stores)
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=_stores)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + ann_dir + 'nlq_val.json')
test_evaluator = val_evaluator
warmup_epochs = 1
max_epochs = 3
optim_wrapper = dict(optimizer=dict(lr=5e-3))
# the total batch (1 GPU x 2) this lr is for (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=2)
# 18 iterations: a fast EMA so that the evaluated (EMA) weights have moved
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExponentialMovingAverage',
        momentum=0.2,
        update_buffers=False,
        priority=49)
]
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-8,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-8,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=2))
model_wrapper_cfg = dict(find_unused_parameters=False)
randomness = dict(seed=0)
