# Ego4D-NLQ in R2-Tuning's layout (official configs/_base_/datasets/ego4d.py):
# nlq_{train,val}.jsonl (QVHighlights-style records without saliency), 0.5
# fps caches, batch 32, videos < 5 s dropped in training.
_base_ = ['./qvhighlights.py']
data_root = 'data/ego4d/'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        times=1,
        dataset=dict(data_root=data_root, ann_file='nlq_train.jsonl')))
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='nlq_val.jsonl'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MomentRetrievalMetric', _delete_=True)
test_evaluator = val_evaluator
