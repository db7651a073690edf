# MMPT's fairseq optimisation (how2.yaml / crosstask.yaml): Adam with betas
# (0.9, 0.98) and no weight decay, gradient norm clipped at 2.0, fp16 with a
# dynamic loss scale (fairseq --fp16; here AMP: fp32 master weights, fp16
# matmuls), lr warm-up from 0 over `warmup_updates` then polynomial decay
# (power 1, to 0) over `total_num_update` = 1,000,000 updates, stepped per
# update, exactly as fairseq computes it (PolyDecayWithWarmupLR).
# Entry configs set lr, warmup_updates and train_cfg.max_epochs.
lr = 2e-5
warmup_updates = 1000
total_num_update = 1000000
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(
        type='Adam', lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0),
    clip_grad=dict(max_norm=2.0))
param_scheduler = [
    dict(
        type='PolyDecayWithWarmupLR',
        warmup_updates=warmup_updates,
        total_updates=total_num_update,
        power=1.0,
        end_value=0.0,
        by_epoch=False)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# the lr is written for the official single-GPU batch of one item
auto_scale_lr = dict(enable=False, base_batch_size=1)
