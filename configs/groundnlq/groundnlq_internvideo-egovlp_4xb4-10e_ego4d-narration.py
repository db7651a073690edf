# GroundNLQ narration pre-training (official
# configs/ego4d_narrations_nlq_internvideo.yaml, tools/pretrain_ego4d_narration
# .sh: torchrun --nproc_per_node=4): EgoClip narrations inside the NLQ / MQ /
# VQ train clips (projects/groundnlq/tools/build_narration_queries.py), temporal
# jittering of their windows, 4 GPUs x 4 clips, 4 + 6 epochs. Validation:
# Ego4D NLQ val.
_base_ = [
    './_base_/model.py', './_base_/datasets/ego4d_nlq.py',
    './_base_/schedule.py', './_base_/runtime.py'
]
# narration queries give up to 50 windows (yaml test_cfg.max_seg_num)
model = dict(test_cfg=dict(max_seg_num=50))
narration_store = dict(
    type='LMDBStore', root='lmdb/em_narration_clip_token_features')
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        ann_file='ego4d_data_narration/narration_queries.jsonl',
        ann_format='normalized',
        query_store=narration_store,
        # official filter_missing_video.py drops the clips without features
        on_missing='drop',
        pipeline=[
            dict(type='NLQTemporalJitter', max_scale=10),
            dict(type='PackGroundNLQInputs')
        ]))
# official lr: 5e-5 in the yaml x torch.cuda.device_count() = 4 GPUs in
# train.py -> 2e-4 for 4 GPUs x 4 clips (16 per iteration)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
# the fine-tuning configs start from the 6th epoch (official epoch_005)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=-1, save_best=None))
