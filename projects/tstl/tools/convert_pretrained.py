"""Pretrained CLIP and VideoMAE experts -> one TSTL backbone checkpoint.

Usage::

    python projects/tstl/tools/convert_pretrained.py \
        --clip ViT-B-16.pt --videomae vit_b_k400_pt.pth --out tstl_init.pth \
        [--img-size 224] [--num-frames 16]

Builds a ``TSTLBackbone`` of the given size, loads the experts with
:func:`vtg_tstl.models.pretrained.load_pretrained_clip` and
:func:`~vtg_tstl.models.pretrained.load_pretrained_videomae` (the CLIP
position table is resampled to ``--img-size``; see that module for the
mapping rules) and writes the loaded tensors only, as ``backbone.<key>``
in an MMEngine checkpoint (``{'meta', 'state_dict'}``, written
atomically). Everything else (adapters, B-CAST, heads) keeps the init of
the model that loads it. Use it as::

    load_from = 'tstl_init.pth'
    # or
    model = dict(backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='tstl_init.pth', prefix='backbone.')))
"""
import argparse
from typing import Dict, List, Optional

import torch
from torch import Tensor

from vtg_plugins.utils.io import atomic_write
from vtg_tstl.models.backbone import TSTLBackbone
from vtg_tstl.models.pretrained import (load_pretrained_clip,
                                        load_pretrained_videomae)


def convert(clip: Optional[str],
            videomae: Optional[str],
            map_fc_norm: bool = False,
            **backbone_cfg) -> Dict[str, Tensor]:
    """The ``backbone.*`` tensors the checkpoints provide for a backbone
    built from ``backbone_cfg`` (``TSTLBackbone`` arguments)."""
    if clip is None and videomae is None:
        raise ValueError('give --clip, --videomae or both')
    backbone = TSTLBackbone(drop_path_rate=0.0, **backbone_cfg)
    loaded: List[str] = []
    if clip is not None:
        loaded += load_pretrained_clip(backbone, clip).loaded
    if videomae is not None:
        loaded += load_pretrained_videomae(backbone, videomae,
                                           map_fc_norm).loaded
    own = backbone.state_dict()
    return {f'backbone.{k}': own[k].clone() for k in sorted(loaded)}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--clip',
        help='OpenAI TorchScript .pt or open_clip '
        'checkpoint (path or URL)')
    parser.add_argument(
        '--videomae',
        help='official or MMAction2 VideoMAE '
        'checkpoint (path or URL)')
    parser.add_argument('--out', required=True, help='output checkpoint')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--tubelet-size', type=int, default=2)
    parser.add_argument('--embed-dim', type=int, default=768)
    parser.add_argument('--depth', type=int, default=12)
    parser.add_argument('--num-heads', type=int, default=12)
    parser.add_argument(
        '--map-fc-norm',
        action='store_true',
        help="load VideoMAE's fc_norm into vmae_fc_norm (the official "
        'loader leaves it at its init)')
    args = parser.parse_args(argv)
    cfg = dict(
        img_size=args.img_size,
        num_frames=args.num_frames,
        patch_size=args.patch_size,
        tubelet_size=args.tubelet_size,
        embed_dim=args.embed_dim,
        depth=args.depth,
        num_heads=args.num_heads)
    state = convert(args.clip, args.videomae, args.map_fc_norm, **cfg)
    meta = dict(
        clip=args.clip,
        videomae=args.videomae,
        map_fc_norm=args.map_fc_norm,
        backbone=cfg)
    with atomic_write(args.out, 'wb') as f:
        torch.save(dict(meta=meta, state_dict=state), f)
    print(f'wrote {args.out}: {len(state)} backbone tensors')


if __name__ == '__main__':
    main()
