# Charades-STA in R2-Tuning's layout (official
# configs/_base_/datasets/charades.py): 1 fps caches (1-s clips), batch 32,
# videos < 5 s dropped in training, evaluated on the test split.
_base_ = ['./qvhighlights.py']
data_root = 'data/charades/'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        times=1,
        dataset=dict(
            data_root=data_root,
            ann_file='charades_train.jsonl',
            ann_kwargs=dict(clip_len=1.0),
            # the QVHighlights recipe at the official fps=1
            recipe=dict(clip_len=1.0))))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='charades_test.jsonl',
        ann_kwargs=dict(clip_len=1.0),
        recipe=dict(clip_len=1.0)))
test_dataloader = val_dataloader
val_evaluator = dict(type='MomentRetrievalMetric', _delete_=True)
test_evaluator = val_evaluator
