# TSTL stage 2, one expert per class group: the fused model trained on the
# Something-Something V2 clips of one group of TSTL's class_grouping.json
# (labels stay the 174 global classes, as the official experts output all
# classes), with class-balanced batches (4 classes x 2 clips): TSTL's
# train_experts.py defaults (--batch_size 8 --update_freq 1 --epochs 10
# --drop_path 0.3 --mixup_prob 0.9 --warmup_epochs 5) on one GPU. One run
# per group g = 0..14, each into its own work dir:
#   python tools/train.py \
#       configs/tstl/tstl_clip-videomae-b16-expert_1xb8-10e_ssv2.py \
#       --work-dir work_dirs/tstl_ssv2_expert-$g \
#       --cfg-options train_dataloader.dataset.group=$g \
#       val_dataloader.dataset.group=$g test_dataloader.dataset.group=$g
_base_ = ['./tstl_clip-videomae-b16-bidir_16xb6-50e_ssv2.py']
grouping = 'configs/tstl/groupings/ssv2_class_grouping.json'
expert_group = 0  # the group of this run (see the command above)
gpus, batch, accumulate = 1, 8, 1

# the SSv2 datasets of the base config, only the group's classes kept
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
        role='expert',
        group=expert_group))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.val_dataloader.dataset}},
        grouping=grouping,
        role='expert',
        group=expert_group))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.test_dataloader.dataset}},
        grouping=grouping,
        role='expert',
        group=expert_group))
# lr = --lr x total batch / 256
optim_wrapper = dict(
    accumulative_counts=accumulate,
    optimizer=dict(lr=1e-3 * gpus * batch * accumulate / 256))
train_cfg = dict(max_epochs=10)
default_hooks = dict(checkpoint=dict(interval=1))
# the batch this lr is for (--auto-scale-lr scales it for other GPU counts)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
