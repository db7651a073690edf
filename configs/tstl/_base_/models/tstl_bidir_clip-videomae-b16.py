# TSTL / CAST fused ("bidir") model: bidir_vit_base_patch16_224 of
# khuvll/CAST models/bidir_modeling_crossattn.py (TSTL's copy in
# saddy-paddy/TSTL). CLIP ViT-B/16 spatial expert (one frame per tubelet:
# 8 of 16) + VideoMAE ViT-B/16 temporal expert (tubelet 2), B-CAST in every
# block, the fused head over both experts' pooled features.
# Entry configs set num_classes (head and blending), drop_path_rate and the
# pretrained expert checkpoints:
#   clip_pretrained: OpenAI ViT-B-16.pt (TorchScript) or an open_clip
#     ViT-B-16-quickgelu state dict (run_bidirection.py --clip_finetune)
#   videomae_pretrained: a VideoMAE ViT-B/16 checkpoint, official or
#     MMAction2 naming (--vmae_finetune)
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='TSTLBackbone',
        img_size=224,  # --input_size
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        down_ratio=2,  # --down_ratio
        num_frames=16,  # --num_frames
        tubelet_size=2,  # --tubelet_size
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.2,  # --drop_path
        clip_pretrained=None,
        videomae_pretrained=None),
    cls_head=dict(
        type='TSTLFusedHead',
        num_classes=None,
        in_channels=768,
        dropout_ratio=0.0,  # --head_drop_rate
        init_scale=1.0,  # --init_scale
        # smoothing is folded into the mixed targets by the blending
        label_smooth_eps=0.0,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        # the official loaders normalise with the ImageNet statistics
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW',
        # --mixup 0.8 --cutmix 1.0 --smoothing 0.1, pairs by flipping the
        # batch (util_tools/mixup.py); entry configs set prob / switch_prob
        blending=dict(
            type='TSTLMixupCutmixBlending',
            num_classes=None,
            mixup_alpha=0.8,
            cutmix_alpha=1.0,
            prob=0.9,
            switch_prob=0.0,
            label_smoothing=0.1)))
