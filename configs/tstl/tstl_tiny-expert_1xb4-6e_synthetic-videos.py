# TSTL stage 2 at toy size: the tiny model trained on the synthetic videos
# of one group of groupings/tiny_4-classes_2-groups.json (labels stay the 4
# global classes), with class-balanced batches (2 classes x 2 clips). One
# run per group g = 0, 1:
#   python tools/train.py \
#       configs/tstl/tstl_tiny-expert_1xb4-6e_synthetic-videos.py \
#       --work-dir work_dirs/tstl_tiny_expert-$g \
#       --cfg-options train_dataloader.dataset.group=$g \
#       val_dataloader.dataset.group=$g
_base_ = ['./tstl_tiny_1xb4-6e_synthetic-videos.py']
grouping = 'configs/tstl/groupings/tiny_4-classes_2-groups.json'
train_dataloader = dict(
    batch_sampler=dict(
        type='ClassBalancedBatchSampler',
        classes_per_batch=2,
        samples_per_class=2),
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.train_dataloader.dataset}},
        grouping=grouping,
        role='expert',
        group=0))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.val_dataloader.dataset}},
        grouping=grouping,
        role='expert',
        group=0))
test_dataloader = val_dataloader
