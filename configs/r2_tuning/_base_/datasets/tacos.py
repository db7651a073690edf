# TACoS in R2-Tuning's layout (official configs/_base_/datasets/tacos.py):
# {train,test}.jsonl, 0.5 fps caches keyed '{vid}-cam-002', batch 32, videos
# < 5 s dropped in training, evaluated on the test split.
_base_ = ['./qvhighlights.py']
data_root = 'data/tacos/'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        times=1,
        dataset=dict(
            data_root=data_root,
            ann_file='train.jsonl',
            vid_suffix='-cam-002')))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root, ann_file='test.jsonl', vid_suffix='-cam-002'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MomentRetrievalMetric', _delete_=True)
test_evaluator = val_evaluator
