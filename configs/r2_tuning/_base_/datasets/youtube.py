# YouTube Highlights in R2-Tuning's layout (official
# configs/_base_/datasets/youtube.py): youtube_anno.json, caches keyed by
# video id (the query is the video title), batch 4. Entry configs set the
# domain. As the official runs did (see metrics.md), training and validation
# both read the domain's 'val' list; the model-zoo numbers are the best epoch
# on it. Set split='train' in train_dataloader for a held-out protocol.
data_root = 'data/youtube/'
dataset_type = 'YouTubeHighlightsDataset'
# the recipe of the features: R2-Tuning's CLIP caches (see qvhighlights.py:
# OpenAI ViT-B/32, last 4 blocks, crop 224, fp16) of frames sampled at
# fps='auto', one frame per labelled clip of each video (official
# tools/extract_frames.py --anno_path: frames_224_auto); the queries (video
# titles) through the same CLIP. Checked against each store's meta.json.
video_recipe = dict(
    backbone='ViT-B/32',
    weights='openai',
    layers=[9, 10, 11, 12],
    fps='auto',
    crop=224,
    dtype='float16')
clip_query_recipe = dict(text_tokens='sot_eot_last_k', text_normalizer=None)
domain = 'dog'
train_pipeline = [dict(type='R2HighlightTargets'), dict(type='PackR2Inputs')]
test_pipeline = [dict(type='R2HighlightTargets'), dict(type='PackR2Inputs')]
_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='youtube_anno.json',
    domain=domain,
    split='val',
    video_store=dict(type='DirectoryStore', root='clip_b32_vid_k4'),
    query_store=dict(type='DirectoryStore', root='clip_b32_txt_k4'),
    recipe=video_recipe,
    query_recipe=clip_query_recipe)
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(_dataset, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='YouTubeHighlightsMetric')
test_evaluator = val_evaluator
