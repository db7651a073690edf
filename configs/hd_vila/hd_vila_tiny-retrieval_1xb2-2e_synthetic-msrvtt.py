# A tiny HD-VILA retrieval on synthetic MSR-VTT-style videos, written by
#   vtg_hd_vila.testing.make_retrieval_data('data/hd_vila_synthetic/retrieval')
# (4 PyAV-written 36x56 videos of 30-39 frames, one caption each, a
# 42-token vocab.txt). The whole recipe at toy size: the official clip
# sampling, resize-crop-flip and x4 keyframes, the hybrid video encoder
# (ResNet-18 branches, one TimeSformer block), a 2-layer BERT, the
# contrastive loss, the official AdamW with its three parameter sets and
# the warm-up + multi-step schedule, retrieval evaluation; in seconds on a
# CPU. The end-to-end test trains and tests it.
_base_ = [
    './_base_/models/hd_vila_retrieval.py',
    './_base_/datasets/msrvtt_retrieval.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
tiny_root = 'data/hd_vila_synthetic/retrieval/'
tiny_bert = dict(
    _delete_=True,
    vocab_size=42,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=64)
# 32x48 low-resolution crops, 128x192 keyframes: a 2x3 grid
tiny_encoder = dict(
    hidden_size=16,
    resnet_depth=18,
    timesformer_depth=1,
    timesformer_heads=2,
    num_frames=3,
    grid_size=(2, 3))
model = dict(bert_config=tiny_bert, video_encoder=tiny_encoder)

tiny_train_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=2,
        num_frm=3,
        sample_rate=2,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(32, 48),
        train=True,
        resize_size=(36, 56),
        keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
tiny_test_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=2,
        num_frm=3,
        sample_rate=2,
        random_clips=False),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(
        type='HDVILAResizeCrop',
        crop_size=(32, 48),
        train=False,
        resize_size=(36, 56),
        keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
tiny_dataset = dict(
    ann_file=tiny_root + 'anno.jsonl',
    vocab_file=tiny_root + 'vocab.txt',
    data_prefix=dict(video=tiny_root + 'videos_6fps'))
gpus, batch = 1, 2
train_dataloader = dict(
    batch_size=batch,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(tiny_dataset, pipeline=tiny_train_pipeline))
val_dataloader = dict(
    batch_size=3,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(tiny_dataset, pipeline=tiny_test_pipeline))
test_dataloader = val_dataloader
# plain fp32 on a CPU (AMP needs a GPU); a high lr for the toy run
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='HDVILAOptimWrapperConstructor',
    optimizer=dict(
        type='HDVILAAdamW',
        lr=1e-3,
        betas=(0.9, 0.98),
        eps=1e-6,
        weight_decay=1e-4),
    paramwise_cfg=dict(
        cnn_lr=1e-3,
        cnn_weight_decay=1e-4,
        align_lr=5e-4,
        align_weight_decay=1e-3),
    clip_grad=dict(max_norm=5.0))
# 2 updates per epoch: 1 of warm-up, x0.5 from epoch 1 on
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='multi_step',
        warmup_ratio=0.25,
        milestones=[1],
        gamma=0.5,
        accumulative_counts=1,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(
        interval=1,
        max_keep_ckpts=1,
        save_best='msrvtt/t2v_R1',
        rule='greater'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
