# TSTL stage 1, the selector: the fused model trained on Something-Something
# V2 to predict the class group (15 groups of TSTL's class_grouping.json,
# `class_to_head`), with class-balanced batches (4 groups x 2 clips): TSTL's
# train_selector.py defaults (--batch_size 8 --update_freq 1 --epochs 10
# --drop_path 0.3 --mixup_prob 0.9 --warmup_epochs 5) on one GPU (the
# official batch sampler is not distributed; ours is, so more GPUs work).
#   python tools/train.py \
#       configs/tstl/tstl_clip-videomae-b16-selector_1xb8-10e_ssv2.py \
#       --work-dir work_dirs/tstl_ssv2_selector
_base_ = ['./tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py']
grouping = 'configs/tstl/groupings/ssv2_class_grouping.json'
num_groups = 15
gpus, batch, accumulate = 1, 8, 1
model = dict(
    cls_head=dict(num_classes=num_groups),
    data_preprocessor=dict(blending=dict(num_classes=num_groups)))

# the SSv2 datasets of the base config, their labels replaced by group ids
train_dataloader = dict(
    batch_size=batch,
    batch_sampler=dict(
        type='ClassBalancedBatchSampler',
        classes_per_batch=4,
        samples_per_class=2),
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.train_dataloader.dataset}},
        grouping=grouping,
        role='selector'))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.val_dataloader.dataset}},
        grouping=grouping,
        role='selector'))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.test_dataloader.dataset}},
        grouping=grouping,
        role='selector'))
# lr = --lr x total batch / 256
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=10)
default_hooks = dict(checkpoint=dict(interval=1))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
