# TSTL stage 1 at toy size: the tiny model trained to predict the group
# (2 groups of 2 classes, groupings/tiny_4-classes_2-groups.json) of the
# synthetic videos of tstl_tiny_1xb4-6e_synthetic-videos.py, with
# class-balanced batches (2 groups x 2 clips):
#   python tools/train.py \
#       configs/tstl/tstl_tiny-selector_1xb4-6e_synthetic-videos.py \
#       --work-dir work_dirs/tstl_tiny_selector
_base_ = ['./tstl_tiny_1xb4-6e_synthetic-videos.py']
grouping = 'configs/tstl/groupings/tiny_4-classes_2-groups.json'
num_groups = 2
model = dict(
    cls_head=dict(num_classes=num_groups),
    data_preprocessor=dict(blending=dict(num_classes=num_groups)))
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
        role='selector'))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='GroupLabelDataset',
        dataset={{_base_.val_dataloader.dataset}},
        grouping=grouping,
        role='selector'))
test_dataloader = val_dataloader
