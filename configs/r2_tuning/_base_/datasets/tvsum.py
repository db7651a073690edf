# TVSum in R2-Tuning's layout (official configs/_base_/datasets/tvsum.py):
# tvsum_anno.json, 0.5 fps caches keyed by video id, batch 4; entry configs
# set the domain; train and val both read the domain's 'val' list as in the
# official runs (see youtube.py).
_base_ = ['./youtube.py']
data_root = 'data/tvsum/'
# the YouTube recipe at the official fps=0.5 (frames_224_0.5fps)
_tvsum = dict(
    type='TVSumDataset',
    data_root=data_root,
    ann_file='tvsum_anno.json',
    recipe=dict(fps=0.5))
train_dataloader = dict(dataset=_tvsum)
val_dataloader = dict(dataset=_tvsum)
test_dataloader = val_dataloader
val_evaluator = dict(type='TVSumMetric', _delete_=True)
test_evaluator = val_evaluator
