# R2-Tuning (Liu et al., ECCV 2024), official configs/_base_/models/model.py:
# CLIP ViT-B/32 cached features (init=False), k=4 layers, 256 dims.
model = dict(
    type='R2Tuning',
    arch='ViT-B/32',
    dims=256,
    k=4,
    dropout=0.5,
    use_tef=True,
    strides=(1, 2, 4, 8),
    buffer_size=1024,
    max_num_moment=50,
    merge_cls_sal=True,
    use_coord_head=True,
    heads=8,
    ffn_ratio=4,
    droppath=0.1,
    loss_cfg=dict(
        cls_loss='focal',
        sample_radius=1.5,
        loss_weights=dict(
            loss_cls=1.0,
            loss_reg=0.2,
            loss_sal=0.1,
            loss_video_cal=0.1,
            loss_layer_cal=0.1),
        sal_direction=('row', 'col')),
    # post-processing of the official Grounding.evaluate
    test_cfg=dict(nms_cfg=dict(type='normal', thres=0.7), unit=None))
