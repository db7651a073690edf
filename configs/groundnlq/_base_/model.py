# GroundNLQ (LocPointTransformer) with the hyper-parameters of the official
# configs (houzhijian/GroundNLQ configs/ego4d_nlq_v2_*.yaml merged with the
# defaults of libs/core/config.py): arch [2, 4, 4, 0, 6], dims 384, 4 heads,
# local window 9, 7 pyramid levels, identity FPN with LayerNorm.
model = dict(
    type='GroundNLQ',
    input_vid_dim=2304,  # InternVideo (1536) + EgoVLP (768) features
    input_txt_dim=512,  # CLIP ViT-B/32 text tokens
    embd_dim=384,  # embd_dim == fpn_dim == head_dim
    backbone_arch=(2, 4, 4, 0, 6),
    scale_factor=2,
    n_head=4,
    n_mha_win_size=9,
    embd_kernel_size=3,
    embd_with_ln=True,
    fpn_with_ln=True,
    head_kernel_size=3,
    head_num_layers=3,
    head_with_ln=True,
    use_abs_pe=True,
    max_seq_len=2560,
    regression_range=[(0, 4), (2, 8), (4, 16), (8, 32), (16, 64), (32, 128),
                      (64, 10000)],
    num_classes=1,
    train_cfg=dict(
        center_sample='radius',
        center_sample_radius=1.5,
        loss_weight=1.0,
        cls_prior_prob=0.01,
        init_loss_norm=200,
        head_empty_cls=(),
        dropout=0.0,
        droppath=0.1,
        label_smoothing=0.1),
    test_cfg=dict(
        pre_nms_thresh=0.001,
        pre_nms_topk=2000,
        iou_threshold=0.1,
        min_score=0.001,
        max_seg_num=5,
        nms_method='soft',
        nms_sigma=0.75,
        duration_thresh=0.001,
        multiclass_nms=True,
        voting_thresh=0.9,
        # official: seconds = (grid + 0.5 * feat_num_frames / feat_stride)
        # * feat_stride / fps at test time although training targets have
        # no such offset; False drops the +0.267 s shift
        half_frame_offset=True),
    # 1.87 features per second: stride 16.043 frames at 30 fps
    time_cfg=dict(fps=30.0, feat_stride=16.043, feat_num_frames=16.043))
