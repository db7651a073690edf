# The zero-shot CLIP similarity baseline on the Charades-STA test split
# (moment retrieval), in R2-Tuning's Charades-STA layout
# (configs/r2_tuning/_base_/datasets/charades_sta.py): one frame per 1-s clip.
#   python tools/test.py \
#       configs/clip_zeroshot/clip-zeroshot_clip-b32_1xb32_charades-sta.py
_base_ = ['./clip-zeroshot_clip-b32_1xb32_qvhighlights.py']
data_root = 'data/charades/'
test_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='charades_test.jsonl',
        ann_kwargs=dict(clip_len=1.0),
        # the QVHighlights recipe at 1 fps
        recipe=dict(fps=1.0, clip_len=1.0)))
# R2-Tuning's vtg_eval protocol: R1@{0.3,0.5,0.7}, mIoU
test_evaluator = dict(type='MomentRetrievalMetric', _delete_=True)
