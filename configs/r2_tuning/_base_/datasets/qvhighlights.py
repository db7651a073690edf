# QVHighlights in R2-Tuning's layout (official
# configs/_base_/datasets/qvhighlights.py): the official jsonl per split and
# the fp16 CLIP caches clip_b32_{vid,txt}_k4/{id}.npy ([T, 4, 50, 768] and
# [L, 4, 512]); 0.5 fps (2-s clips); train x4 (RepeatDataset), batch 128;
# videos shorter than 5 s dropped in training. The other grounding datasets
# inherit this file and change data_root, files, clip_len and batch size.
data_root = 'data/qvhighlights/'
# the recipe of the features (official tools/extract_frames.py and
# tools/extract_feat.py): OpenAI's CLIP ViT-B/32, the tokens of its last 4
# blocks, frames at 0.5 fps (2-s clips), short side resized and centre
# crop 224, fp16; the queries through the same CLIP, tokens SOT..EOT as
# written. Each store's meta.json is checked against them; the official
# caches have none (accepted with a warning;
# tools/data/write_store_meta.py STORE --config CONFIG writes one).
video_recipe = dict(
    backbone='ViT-B/32',
    weights='openai',
    layers=[9, 10, 11, 12],
    clip_len=2.0,
    crop=224,
    dtype='float16')
clip_query_recipe = dict(text_tokens='sot_eot_last_k', text_normalizer=None)
dataset_type = 'GroundingDataset'
train_pipeline = [
    dict(type='R2GroundingTargets', max_saliency=12),
    dict(type='PackR2Inputs'),
]
test_pipeline = [dict(type='PackR2Inputs')]
video_store = dict(type='DirectoryStore', root='clip_b32_vid_k4')
query_store = dict(type='DirectoryStore', root='clip_b32_txt_k4')

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='RepeatDataset',
        times=4,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='qvhighlights_train.jsonl',
            ann_format='qvhighlights',
            ann_kwargs=dict(clip_len=2.0),
            video_store=video_store,
            query_store=query_store,
            recipe=video_recipe,
            query_recipe=clip_query_recipe,
            min_duration=5,
            pipeline=train_pipeline)))
# the official code evaluates with batch 1; our predict is batched with
# identical per-sample outputs
val_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='qvhighlights_val.jsonl',
    ann_format='qvhighlights',
    ann_kwargs=dict(clip_len=2.0),
    video_store=video_store,
    query_store=query_store,
    recipe=video_recipe,
    query_recipe=clip_query_recipe,
    pipeline=test_pipeline,
    test_mode=True)
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=val_dataset)
# the test split has no ground truth: `tools/test.py` writes the CodaLab
# file hl_test_submission.jsonl into the evaluator's out_dir
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataset, ann_file='qvhighlights_test.jsonl'))
val_evaluator = dict(type='QVHighlightsMetric', protocol='r2tuning')
test_evaluator = dict(
    type='QVHighlightsMetric',
    protocol='r2tuning',
    format_only=True,
    out_dir='work_dirs/r2_tuning_qvhighlights_test',
    submission_name='hl_test_submission.jsonl')
