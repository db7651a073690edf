# The QVHighlights baseline config on the tiny random-init CLIP of the tests
# (vtg_plugins.testing.feature_pipeline.TINY_CLIP: 224 px, patch 32, 3
# blocks, 32-d embeddings) and synthetic QVHighlights-format data under
# data_root; tests/projects/clip_zeroshot/ writes the videos, extracts the
# stores with tools/data/extract_feat.py and runs tools/test.py on it.
_base_ = ['./clip-zeroshot_clip-b32_1xb32_qvhighlights.py']
data_root = 'data/tiny_clip_zeroshot/'
tiny_clip = dict(
    embed_dim=32,
    quick_gelu=True,
    vision_cfg=dict(
        image_size=224, layers=3, width=64, patch_size=32, head_width=32),
    text_cfg=dict(
        context_length=77, vocab_size=49408, width=32, heads=2, layers=3))
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        data_root=data_root,
        # its last block is block 3; weights named by the tests' checkpoint
        recipe=dict(
            weights='tiny-random-init', layers=[3], model_cfg=tiny_clip)))
