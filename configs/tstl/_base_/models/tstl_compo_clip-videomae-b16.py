# CAST compositional model for EPIC-Kitchens-100:
# compo_bidir_vit_base_patch16_224 of khuvll/CAST
# models/bidir_modeling_crossattn.py. The same experts and B-CAST as the
# fused model; the noun head reads the CLIP (spatial) feature and the verb
# head the VideoMAE (temporal) one.
# Entry configs set drop_path_rate and the
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
        type='TSTLCompoHead',
        in_channels=768,
        num_noun_classes=300,
        num_verb_classes=97,
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
        # --mixup 0.8 --cutmix 1.0 --smoothing 0.1, noun and verb targets
        # mixed together (util_tools/mixup.py, composition=True)
        blending=dict(
            type='TSTLMixupCutmixBlending',
            num_classes=397,
            composition=True,
            num_nouns=300,
            num_verbs=97,
            mixup_alpha=0.8,
            cutmix_alpha=1.0,
            prob=0.9,
            switch_prob=0.0,
            label_smoothing=0.1)))
