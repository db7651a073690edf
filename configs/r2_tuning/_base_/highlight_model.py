# The YouTube Highlights / TVSum variant of the official configs: one pyramid
# level, no TEF, no boundary head, DynamicBCE, SampledNCE 'row' only.
_base_ = ['./model.py']
model = dict(
    strides=(1, ),
    use_tef=False,
    merge_cls_sal=False,
    use_coord_head=False,
    loss_cfg=dict(cls_loss='dynamic_bce', sal_direction=('row', )))
