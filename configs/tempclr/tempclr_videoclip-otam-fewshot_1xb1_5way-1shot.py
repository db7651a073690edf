# Few-shot action recognition with the pre-trained video tower: each frame
# of an episode's videos (S3D features, one per second) through TempCLR's
# video encoder, a query assigned to the class of least OTAM cost (both
# directions, averaged) to its support videos; accuracy and its 95 %
# interval over 10,000 seeded 5-way 1-shot episodes. The protocol follows
# the few-shot action recognition library TempCLR's OTAM comes from; the
# paper's exact episode set-up was not available to us (see the README).
# The encoder loads its converted checkpoint itself (no CHECKPOINT argument):
#   python tools/test.py configs/tempclr/tempclr_videoclip-otam-fewshot_1xb1_5way-1shot.py
_base_ = ['./_base_/datasets/few_shot.py', './_base_/runtime.py']
model = dict(
    type='FewShotAlignmentClassifier',
    frame_encoder=dict(
        type='TempCLRVideoTokenEncoder',
        encoder=dict(
            type='TempCLRDualEncoder',
            bert_config=dict(),
            video_layers=6,
            input_dim=512,
            max_video_len=32,
            contrastive_loss=None),
        checkpoint='checkpoints/tempclr_checkpoint_layernorm_OTAM.pth'),
    metric='otam')
test_cfg = dict(type='TestLoop')
