# TSTL / CAST fine-tuning schedule (train_selector.py / train_experts.py of
# saddy-paddy/TSTL; run_bidirection.py of khuvll/CAST):
# AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.05, constant: the official
# --weight_decay_end is unset), layer-wise lr decay 0.75 with TSTL's layer ids
# (TSTLLayerDecayOptimWrapperConstructor), no gradient clipping (--clip_grad
# None), per-iteration linear warm-up from 0 over 5 epochs, then cosine to
# min_lr, the floor of each group being min_lr x its lr scale.
#
# Entry configs write the learning rate out for their total batch:
#   lr = 1e-3 * (GPUs * per-GPU batch * accumulative_counts) / 256
# (min_lr = 1e-6 scales the same way, so eta_min_ratio = 1e-6 / 1e-3 stays);
# they set optim_wrapper.accumulative_counts to the official --update_freq
# and train_cfg.max_epochs to --epochs (the cosine ends there).
# The warm-up cannot start at exactly 0 (MMEngine's LinearLR is chainable),
# so it starts at 1e-8 x lr; it reaches lr on the last warm-up iteration
# like the official np.linspace(0, lr, warmup_iters).
warmup_epochs = 5
max_epochs = 30
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='TSTLLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75),
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
        weight_decay=0.05))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-8,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    # no `end`: the Runner ends it at train_cfg.max_epochs
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=warmup_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# the lr is written out for the total batch; entry configs set
# base_batch_size = GPUs x per-GPU batch (MMEngine scales by that ratio and
# ignores accumulative_counts, which an other GPU count keeps)
auto_scale_lr = dict(enable=False, base_batch_size=256)
