# A tiny HD-VILA open-ended video QA on synthetic TGIF-FrameQA-style
# data, written by
#   vtg_hd_vila.testing.make_qa_data('data/hd_vila_synthetic/frameqa')
# (4 questions on 2 PyAV-written 36x56 videos, a 3-answer ans2label.json
# that leaves one GT answer out, a 42-token vocab.txt). The whole recipe at
# toy size: the TGIF fit-and-pad frames (32x32, keyframes 128x128), the
# hybrid video encoder (ResNet-18 branches, one TimeSformer block), a
# 2-layer BERT read with every clip, the MLP answer classifier, the
# official AdamW with its parameter sets, 2 accumulated steps per update,
# the warm-up + multi-step schedule, exact-match accuracy per answer type;
# in seconds on a CPU. The end-to-end test trains and tests it.
_base_ = [
    './_base_/models/hd_vila_video-qa.py', './_base_/datasets/tgif_frameqa.py',
    './_base_/schedules/adamw_e2e_warmup-decay_fp16.py', './_base_/runtime.py'
]
tiny_root = 'data/hd_vila_synthetic/frameqa/'
model = dict(
    num_labels=3,
    bert_config=dict(
        _delete_=True,
        vocab_size=42,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64),
    # 32x32 frames, 128x128 keyframes: a 2x2 grid
    video_encoder=dict(
        hidden_size=16,
        resnet_depth=18,
        timesformer_depth=1,
        timesformer_heads=2,
        num_frames=3,
        grid_size=(2, 2)))
tiny_train_pipeline = [
    dict(type='HDVILAVideoInit', backend='auto'),
    dict(
        type='SampleHDVILAClips',
        n_clips=1,
        num_frm=3,
        sample_rate=2,
        random_clips=True),
    dict(type='HDVILAVideoDecode', high_res_keyframes=False),
    dict(type='HDVILAFitPad', max_size=32, train=True, keyframe='upsample'),
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
    dict(type='HDVILAFitPad', max_size=32, train=False, keyframe='upsample'),
    dict(type='PackHDVILAInputs')
]
tiny_dataset = dict(
    ann_file=tiny_root + 'frameqa.jsonl',
    ans2label_file=tiny_root + 'ans2label.json',
    vocab_file=tiny_root + 'vocab.txt',
    data_prefix=dict(video=tiny_root + 'videos_mp4'))
gpus, batch, accumulate = 1, 2, 2
# the answer of the fourth question is outside the vocabulary: no loss
# (train_oov='ignore'; the official loader would stop), counted wrong
train_dataloader = dict(
    batch_size=batch,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        tiny_dataset, pipeline=tiny_train_pipeline, train_oov='ignore'))
test_dataloader = dict(
    batch_size=3,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(tiny_dataset, pipeline=tiny_test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(ans2label=tiny_root + 'ans2label.json')
test_evaluator = val_evaluator
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
        weight_decay=0.3),
    paramwise_cfg=dict(
        cnn_lr=1e-3,
        cnn_weight_decay=0.3,
        align_lr=1e-3,
        align_weight_decay=0.3),
    clip_grad=dict(max_norm=5.0),
    accumulative_counts=accumulate)
# 1 update per epoch (2 iterations): linear warm-up, then linear decay
param_scheduler = [
    dict(
        type='HDVILAWarmupDecayLR',
        decay='linear',
        warmup_ratio=0.5,
        accumulative_counts=accumulate,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(
        interval=1,
        max_keep_ckpts=1,
        save_best='tgif_frameqa/overall_acc',
        rule='greater'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=gpus * batch)
