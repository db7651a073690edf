# Zero-shot MSR-VTT 1k-A text->video retrieval with a pre-trained dual
# encoder (raw dot product, R@1/5/10, MedR), as MMPT's test_vtt_zs.yaml.
#   python tools/test.py configs/tempclr/tempclr_videoclip-zeroshot_1xb256_msrvtt.py \
#       checkpoints/tempclr_checkpoint_layernorm_DTW.pth
_base_ = [
    './_base_/models/tempclr_videoclip_bert-base.py',
    './_base_/datasets/msrvtt.py', './_base_/runtime.py'
]
test_cfg = dict(type='TestLoop')
