# The zero-shot CLIP similarity baseline on QVHighlights val (moment
# retrieval + highlight detection): no training and no weights of its own
# (projects/clip_zeroshot/README.md). Evaluate with
#   python tools/test.py \
#       configs/clip_zeroshot/clip-zeroshot_clip-b32_1xb32_qvhighlights.py
# after extracting the embedding stores the test dataset names (the README
# gives the commands). Name: {method}_{backbone}_{dataset}, without the
# {gpus}xb{batch}-{epochs}e field of trained methods.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vtg_plugins', 'vtg_clip_zeroshot'], allow_failed_imports=False)
default_scope = 'vtg_plugins'

# saliency = cosine(image embedding of a clip's frame, text embedding of the
# query); moments = every window of consecutive clips, scored by its mean
# saliency minus the mean outside it, hard NMS at IoU 0.7, 10 kept (the
# official QVHighlights evaluator reads at most 10 windows per query)
model = dict(
    type='CLIPZeroShotGrounder',
    arch='ViT-B/32',
    test_cfg=dict(max_window_clips=None, nms_thres=0.7, max_num_moment=10))

data_root = 'data/qvhighlights/'
# the recipe of the features: OpenAI's CLIP ViT-B/32, one frame per 2-s clip
# (0.5 fps, short side resized, centre crop 224: the frames of R2-Tuning's
# features), CLIP's image embedding of each frame (the last block's CLS
# token after ln_post, projected), float32; the query's text embedding of
# the same CLIP (the EOT token after ln_final, projected), as written
embedding_recipe = dict(
    backbone='ViT-B/32',
    weights='openai',
    layers=[12],
    fps=0.5,
    clip_len=2.0,
    crop=224,
    dtype='float32',
    frame_features='image_embedding')
text_embedding_recipe = dict(
    text_tokens='eot_ln_final_projected', text_normalizer=None)
test_pipeline = [dict(type='PackZeroShotInputs')]
test_dataset = dict(
    type='GroundingDataset',
    data_root=data_root,
    ann_file='qvhighlights_val.jsonl',
    ann_format='qvhighlights',
    ann_kwargs=dict(clip_len=2.0),
    # the store names tools/data/extract_feat.py gives these recipes
    video_store=dict(
        type='DirectoryStore', root='clip_b32_vid_k1_image_embedding'),
    query_store=dict(
        type='DirectoryStore', root='clip_b32_txt_k1_eot_ln_final_projected'),
    recipe=embedding_recipe,
    query_recipe=text_embedding_recipe,
    pipeline=test_pipeline,
    test_mode=True)
test_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=test_dataset)
# R2-Tuning's vtg_eval protocol, as R2-Tuning's QVHighlights val evaluator
# (configs/r2_tuning/_base_/datasets/qvhighlights.py), so the two rows
# compare; protocol='official' is moment_detr's CodaLab evaluator
test_evaluator = dict(type='QVHighlightsMetric', protocol='r2tuning')
test_cfg = dict(type='TestLoop')
