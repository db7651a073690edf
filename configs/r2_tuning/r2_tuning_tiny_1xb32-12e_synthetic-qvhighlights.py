# The demo config (`make demo`): the official QVHighlights config at reduced
# width, on the synthetic QVHighlights-format data that
# projects/r2_tuning/tools/demo.py writes (5 tokens x 64 channels per CLIP layer
# instead of 50 x 768: the outputs of the demo's tiny CLIP, which `vtg demo`
# runs on uploaded videos), trained for 12 epochs on CPU in a few minutes.
# Unchanged from the official config: k=4 layers, the R2 block and decoder,
# the pyramid, heads, all five losses and their weights, AdamW 5e-4 / 1e-4,
# the step decay (scaled to 12 epochs), grad clip 35, x4 train repeat,
# evaluation protocol and post-processing (2-s units, NMS 0.7).
_base_ = ['./r2_tuning_clip-b32_1xb128-30e_qvhighlights.py']
data_root = 'data/demo_qvhighlights/'
model = dict(
    arch=dict(_delete_=True, video_dims=64, query_dims=64, num_tokens=5),
    dims=64,
    dropout=0.1)
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='qvhighlights_val.jsonl'))
test_evaluator = dict(
    _delete_=True, type='QVHighlightsMetric', protocol='r2tuning')
warmup_iters = 40
max_epochs = 12
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[8],
        gamma=0.1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
# the total batch (1 GPU x 32) the official lr is used at (--auto-scale-lr)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=10))
