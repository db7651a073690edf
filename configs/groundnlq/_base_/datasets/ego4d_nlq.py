# Ego4D NLQ v2 in GroundNLQ's layout: the official nested nlq_{split}.json
# (houzhijian/GroundNLQ ego4d_data/ego4d_nlq_v2_ori_data), the NaQ
# InternVideo+EgoVLP video features (2304-d, 1.87 features/s) and CLIP
# ViT-B/32 token features of the queries (512-d), both in LMDB.
data_root = 'data/ego4d_nlq/'
ann_dir = 'ego4d_data/ego4d_nlq_v2_ori_data/'
dataset_type = 'Ego4DNLQDataset'
# The recipes of the features, checked against each store's meta.json
# (the official LMDBs have none: accepted with a warning;
# tools/data/write_store_meta.py STORE --config CONFIG writes one).
# Video: the InternVideo + EgoVLP features of the NaQ authors (GroundNLQ
# README, feature_extraction/download_features.py --feature_types
# internvideo, convert_pt_to_lmdb.py): one 2304-d float32 feature every
# 16.043 frames of the 30-fps video, each over 16.043 frames (the yamls'
# default_fps, feat_stride, num_frames, input_vid_dim), 1.87 per second.
video_recipe = dict(
    backbone='internvideo+egovlp',
    weights='naq',
    video_fps=30.0,
    feat_stride=16.043,
    feat_window=16.043,
    clip_len=16.043 / 30,
    feat_dim=2304,
    dtype='float32')
# Queries, and how tools/data/extract_feat.py --config makes them:
# houzhijian/CONE feature_extraction/ego4d_clip_token_extractor.py, the CLIP
# token extractor GroundNLQ's feature_extraction/README.md refers to -- the
# canonical question (process_question), at most 30 BPE tokens, OpenAI's
# ViT-B/32, its last text block (k=1) after ln_final, the tokens between
# SOT and EOT, float32. Also the top-level query recipe of the tools.
query_recipe = dict(
    backbone='ViT-B/32',
    weights='openai',
    k=1,
    dtype='float32',
    text_tokens='between_sot_eot_ln_final_max30',
    text_normalizer='canonical_question')
video_store = dict(
    type='LMDBStore',
    root='lmdb/em_egovlp+internvideo_visual_features_1.87fps')
query_store = dict(type='LMDBStore', root='lmdb/nlq_v2_clip_token_features')
time_cfg = dict(fps=30.0, feat_stride=16.043, feat_num_frames=16.043)
train_pipeline = [dict(type='PackGroundNLQInputs', **time_cfg)]
test_pipeline = [dict(type='PackGroundNLQInputs', with_gt=False, **time_cfg)]

train_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=ann_dir + 'nlq_train.json',
    ann_format='ego4d_nlq_json',
    video_store=video_store,
    query_store=query_store,
    recipe=video_recipe,
    query_recipe=query_recipe,
    pipeline=train_pipeline)
# official loader: DistributedSampler (shuffled), drop_last, 4 workers
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=train_dataset)
val_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file=ann_dir + 'nlq_val.json',
    ann_format='ego4d_nlq_json',
    video_store=video_store,
    query_store=query_store,
    recipe=video_recipe,
    query_recipe=query_recipe,
    pipeline=test_pipeline,
    test_mode=True)
# official eval_nlq.py: batch 16, no shuffle; our predict runs each clip at
# its own length, so the batch does not change the outputs
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=val_dataset)
test_dataloader = val_dataloader
# the official EGO4D evaluator on nlq_val.json (R@{1,3,5}, IoU 0.3 / 0.5)
val_evaluator = dict(
    type='Ego4DNLQMetric', ann_file=data_root + ann_dir + 'nlq_val.json')
test_evaluator = val_evaluator
