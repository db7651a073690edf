# CAST compositional model for EPIC-Kitchens-100:
# compo_bidir_vit_base_patch16_224 of khuvll/CAST
# models/bidir_modeling_crossattn.py. The experts and B-CAST of the fused
# model; the noun head reads the CLIP (spatial) feature and the verb head
# the VideoMAE (temporal) one. Entry configs set drop_path_rate and the
# pretrained expert checkpoints.
_base_ = ['./tstl_bidir_clip-videomae-b16.py']
model = dict(
    cls_head=dict(
        _delete_=True,
        type='TSTLCompoHead',
        in_channels=768,
        num_noun_classes=300,
        num_verb_classes=97,
        dropout_ratio=0.0,  # --head_drop_rate
        init_scale=1.0,  # --init_scale
        # smoothing is folded into the mixed targets by the blending
        label_smooth_eps=0.0,
        average_clips='prob'),
    # noun and verb targets mixed together (util_tools/mixup.py,
    # composition=True)
    data_preprocessor=dict(
        blending=dict(
            num_classes=397, composition=True, num_nouns=300,
            num_verbs=97)))
