# Zero-shot YouCook2 retrieval (official test_youcook_zs.yaml and
# test_youcook_fullvideo_zs.yaml in one pass): clip-level text->video
# retrieval by raw dot product (R@1/5/10, MedR) and full-video retrieval,
# each video's caption sequence against every video's clip sequence by DTW
# and OTAM over the clip scores (correct mode; the `-official` config gives
# the official code's numbers).
#   python tools/test.py configs/tempclr/tempclr_videoclip-zeroshot_1xb256_youcook2.py \
#       checkpoints/tempclr_checkpoint_layernorm_DTW.pth
_base_ = [
    './_base_/models/tempclr_videoclip_bert-base.py',
    './_base_/datasets/youcook2.py', './_base_/runtime.py'
]
test_cfg = dict(type='TestLoop')
