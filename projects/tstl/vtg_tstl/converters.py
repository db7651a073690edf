"""Official TSTL / CAST fine-tuned checkpoints -> our ``Recognizer3D``.

The official models (CAST ``models/bidir_modeling_crossattn.py``
``STCrossTransformer``; TSTL's copy has the same parameters) keep their
backbone names here: ``<key>`` becomes ``backbone.<key>``. The heads are
renamed:

==========================  ===================================
official                    ours
==========================  ===================================
``head.*``                  ``cls_head.fc_cls.*`` (bidir)
``noun_last_Adapter.*``     ``cls_head.noun_last_adapter.*``
``verb_last_Adapter.*``     ``cls_head.verb_last_adapter.*``
``head_noun.*``             ``cls_head.fc_noun.*`` (compo)
``head_verb.*``             ``cls_head.fc_verb.*`` (compo)
==========================  ===================================

``projects/tstl/tools/convert_official.py`` is the command line of
:func:`convert_checkpoint`; ``tools/check_parity.py`` uses
:func:`official_to_kwargs` and :func:`convert_state_dict`.
"""
import os
from typing import Dict, Optional, Tuple

import torch
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from torch import Tensor

from vtg_plugins.utils.io import atomic_write

__all__ = [
    'unwrap_state_dict', 'infer_composition', 'convert_state_dict',
    'official_to_kwargs', 'convert_checkpoint'
]

#: official head prefix -> ours
HEAD_PREFIXES = {
    'head.': 'cls_head.fc_cls.',
    'noun_last_Adapter.': 'cls_head.noun_last_adapter.',
    'verb_last_Adapter.': 'cls_head.verb_last_adapter.',
    'head_noun.': 'cls_head.fc_noun.',
    'head_verb.': 'cls_head.fc_verb.',
}
_COMPO_HEADS = ('head_noun.', 'head_verb.')
#: the official backbone's top-level names
BACKBONE_PREFIXES = ('clip_conv1.', 'clip_class_embedding',
                     'clip_positional_embedding', 'clip_ln_pre.',
                     'clip_ln_post.', 'patch_embed.', 'blocks.',
                     'vmae_fc_norm.')

#: ``STCrossTransformer`` defaults (CAST), for keys an ``init_args`` omits
OFFICIAL_DEFAULTS = dict(
    img_size=224,
    patch_size=16,
    in_chans=3,
    num_classes=1000,
    embed_dim=768,
    depth=12,
    num_heads=12,
    mlp_ratio=4.0,
    down_ratio=2,
    qkv_bias=False,
    qk_scale=None,
    drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
    head_drop_rate=0.0,
    init_values=0.0,
    use_learnable_pos_emb=False,
    init_scale=0.0,
    all_frames=16,
    tubelet_size=2,
    use_mean_pooling=True,
    composition=False)
_BACKBONE_ARGS = dict(
    img_size='img_size',
    patch_size='patch_size',
    in_chans='in_channels',
    embed_dim='embed_dim',
    depth='depth',
    num_heads='num_heads',
    mlp_ratio='mlp_ratio',
    down_ratio='down_ratio',
    qkv_bias='qkv_bias',
    drop_rate='drop_rate',
    attn_drop_rate='attn_drop_rate',
    drop_path_rate='drop_path_rate',
    all_frames='num_frames',
    tubelet_size='tubelet_size')
#: official arguments the official model itself never reads
_UNUSED_ARGS = ('init_values', 'use_mean_pooling', 'pretrained',
                'pretrained_cfg', 'pretrained_cfg_overlay', 'cache_dir')


def unwrap_state_dict(ckpt: dict) -> Dict[str, Tensor]:
    """The weights of an official checkpoint: ``ckpt['model']`` (torch
    save), ``ckpt['module']`` (DeepSpeed) or ``ckpt`` itself, without a
    DDP ``module.`` prefix."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'expected a dict checkpoint, got '
                         f'{type(ckpt).__name__}')
    for key in ('model', 'module'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    return {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in ckpt.items()
    }


def infer_composition(sd: Dict[str, Tensor]) -> bool:
    """Whether official weights are the compo variant (noun/verb heads)."""
    compo = any(k.startswith(_COMPO_HEADS) for k in sd)
    bidir = any(
        k.startswith(p) for k in sd for p in HEAD_PREFIXES
        if p not in _COMPO_HEADS)
    if compo == bidir:
        raise ValueError('cannot tell the variant: the weights have '
                         f'{"both" if compo else "neither"} compo heads '
                         '(head_noun/head_verb) and '
                         f'{"" if compo else "nor "}bidir heads (head, '
                         '*_last_Adapter)')
    return compo


def _check_pos_embed(table: Tensor) -> None:
    """A stored ``pos_embed`` is only accepted as the fixed sinusoid
    table (ours is rebuilt, not loaded)."""
    fixed = get_sinusoid_encoding(table.shape[-2], table.shape[-1])
    if table.shape != fixed.shape or not torch.allclose(
            table.float(), fixed, atol=1e-6):
        raise ValueError('pos_embed is not the fixed sinusoid table: a '
                         'learnable positional embedding '
                         '(use_learnable_pos_emb=True) is not supported')


def convert_state_dict(official_sd: Dict[str, Tensor],
                       composition: bool) -> Dict[str, Tensor]:
    """Official weights -> ``Recognizer3D`` keys (``backbone.*``,
    ``cls_head.*``).

    Args:
        official_sd (dict): an official checkpoint or state dict (``model``
            / ``module`` wrappers and ``module.`` prefixes are removed).
        composition (bool): the compo variant (noun / verb heads).

    Raises:
        ValueError: a key of neither the backbone nor the variant's heads,
            a head of the other variant, or a non-sinusoid ``pos_embed``.
    """
    sd = unwrap_state_dict(official_sd)
    out = {}
    for key, value in sd.items():
        if key == 'pos_embed':
            _check_pos_embed(value)
            continue
        head = next((p for p in HEAD_PREFIXES if key.startswith(p)), None)
        if head is not None:
            if (head in _COMPO_HEADS) != composition:
                raise ValueError(
                    f'{key}: a head of the '
                    f'{"compo" if head in _COMPO_HEADS else "bidir"} '
                    f'variant in weights converted as '
                    f'{"compo" if composition else "bidir"}')
            out[HEAD_PREFIXES[head] + key[len(head):]] = value
        elif key.startswith(BACKBONE_PREFIXES):
            out['backbone.' + key] = value
        else:
            raise ValueError(f'{key}: not a key of the official TSTL/CAST '
                             'model')
    return out


def official_to_kwargs(init_args: dict) -> dict:
    """Official ``STCrossTransformer`` kwargs -> our ``Recognizer3D``
    ``backbone`` and ``cls_head`` configs (official defaults for missing
    keys).

    Raises:
        ValueError: an unknown argument, or one we do not implement
            (``qk_scale`` other than the default, a learnable
            ``pos_embed``, ``num_classes <= 0`` for bidir).
    """
    unknown = sorted(
        set(init_args) - set(OFFICIAL_DEFAULTS) - set(_UNUSED_ARGS))
    if unknown:
        raise ValueError(f'unknown official arguments {unknown}')
    args = {**OFFICIAL_DEFAULTS, **init_args}
    if args['qk_scale'] is not None:
        raise ValueError(f'qk_scale={args["qk_scale"]}: only the default '
                         '1/sqrt(head_dim) is implemented')
    if args['use_learnable_pos_emb']:
        raise ValueError('use_learnable_pos_emb=True is not implemented')
    backbone = dict(type='TSTLBackbone')
    backbone.update({ours: args[off] for off, ours in _BACKBONE_ARGS.items()})
    head = dict(
        in_channels=args['embed_dim'],
        dropout_ratio=args['head_drop_rate'],
        init_scale=args['init_scale'])
    if args['composition']:  # the official compo model ignores num_classes
        head['type'] = 'TSTLCompoHead'
    else:
        if args['num_classes'] <= 0:
            raise ValueError(f'num_classes={args["num_classes"]}: the bidir '
                             'head needs classes')
        head.update(type='TSTLFusedHead', num_classes=args['num_classes'])
    return dict(backbone=backbone, cls_head=head)


def convert_checkpoint(
        src: str,
        dst: str,
        composition: Optional[bool] = None) -> Tuple[bool, Dict[str, Tensor]]:
    """Convert the official checkpoint ``src`` into the MMEngine checkpoint
    ``dst`` (``{'meta', 'state_dict'}``, written atomically).

    Args:
        composition (bool, optional): the variant; None reads it from the
            head keys.

    Returns:
        tuple: ``(composition, converted state dict)``.
    """
    ckpt = torch.load(src, map_location='cpu', weights_only=False)
    try:
        sd = unwrap_state_dict(ckpt)
        if composition is None:
            composition = infer_composition(sd)
        new_sd = convert_state_dict(sd, composition)
    except ValueError as e:
        raise ValueError(f'{src}: {e}') from e
    meta = dict(
        source=os.path.abspath(src),
        converter='vtg_tstl convert_official',
        variant='compo' if composition else 'bidir')
    with atomic_write(dst, 'wb') as f:
        torch.save(dict(meta=meta, state_dict=new_sd), f)
    return composition, new_sd
