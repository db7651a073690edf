# A tiny TempCLR on synthetic HowTo100M shards, YouCook2 and CrossTask in
# the official layouts, written by
#   python projects/tempclr/tools/write_synthetic_data.py \
#       --root data/tempclr_synthetic
# The whole pre-training recipe at toy size: sharded features and captions,
# MMPT's clip sampling, retrieval-augmented regrouping before each epoch,
# the contrastive + soft-DTW alignment loss, Adam with warm-up and
# polynomial decay, validation by zero-shot YouCook2 clip and full-video
# retrieval; in seconds on a CPU. The end-to-end test runs it, then the
# zero-shot CrossTask config `tempclr_tiny-zeroshot_1xb1_synthetic-crosstask.py`
# on its checkpoint.
_base_ = [
    './_base_/models/tempclr_videoclip_bert-base.py',
    './_base_/datasets/howto100m.py', './_base_/datasets/youcook2.py',
    './_base_/schedules/adam_poly_fp16.py', './_base_/runtime.py'
]
data_root = 'data/tempclr_synthetic/'
vocab_file = data_root + 'vocab.txt'
max_video_len, max_len = 16, 48
# BERT's special tokens and the 31 words of vtg_tempclr.testing_downstream
tiny_bert = dict(
    vocab_size=36,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0)
model = dict(
    bert_config=tiny_bert,
    video_layers=1,
    input_dim=32,
    max_video_len=max_video_len,
    cls_token_id=2,
    sep_token_id=3,
    alignment_loss=dict(
        type='TemporalAlignmentLoss',
        metric='dtw',
        clip_per_video=4,
        sampling_threshold=3,
        total_sample_size=4),
    alignment_loss_weight=0.7,
    trainable='all')
train_dataloader = dict(
    num_workers=0,
    dataset=dict(
        data_root=data_root + 'howto100m/',
        vocab_file=vocab_file,
        num_video_per_batch=4,
        clip_per_video=4,
        max_video_len=max_video_len,
        max_len=max_len,
        # short clips, so that a video's 4 clips often do not overlap
        sampled_min_len=2,
        sampled_max_len=8,
        sampled_video_min_len=2,
        sampled_video_max_len=8,
        group_multiple=2))
custom_hooks = [
    dict(
        type='RetrievalBatchingHook',
        begin_epoch=1,
        num_cands=4,
        batch_videos=8)
]
tiny_youcook2 = dict(
    type='YouCook2RetrievalDataset',
    data_root=data_root + 'youcook2/',
    ann_file='youcook_val.pkl',
    trainval_annotation='youcookii_annotations_trainval.json',
    vfeat_dir='features',
    vocab_file=vocab_file,
    max_video_len=max_video_len,
    max_len=max_len,
    test_mode=True)
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='vtg_tempclr.datasets.collate.tempclr_collate'),
    dataset=tiny_youcook2)
val_dataloader = test_dataloader
val_evaluator = {{_base_.test_evaluator}}
val_cfg = dict(type='ValLoop')
# plain fp32 on a CPU (AMP needs a GPU)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='Adam', lr=1e-3, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0),
    clip_grad=dict(max_norm=2.0))
param_scheduler = [
    dict(
        type='PolyDecayWithWarmupLR',
        warmup_updates=2,
        total_updates=1000,
        by_epoch=False)
]
gpus, batch = 1, 1
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(
        interval=1,
        max_keep_ckpts=1,
        save_best='youcook2/t2v_R1',
        rule='greater'))
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
