"""Write the checkpoint of the CLIP zero-shot baseline: the (empty) state
dict of its model, for commands that take a CHECKPOINT argument.

    python projects/clip_zeroshot/tools/write_checkpoint.py CONFIG OUT

The baseline has no parameters, so nothing has to be loaded:
``tools/test.py CONFIG`` and ``MomentRetrievalInferencer(CONFIG, None)``
run without a checkpoint. ``OUT`` (``{'state_dict': {}, 'meta': {...}}``)
loads strictly into the model of ``CONFIG`` and changes nothing, so it can
be given wherever a checkpoint path is required (``vtg predict CONFIG OUT
VIDEO QUERY --clip-checkpoint CLIP.pt``). The CLIP weights that make the
features are never in it: the inferencer takes them as
``clip_checkpoint``, the feature tools as ``--checkpoint``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from vtg_plugins.registry import MODELS
from vtg_plugins.utils.io import atomic_write


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write the empty checkpoint of a parameter-free model')
    parser.add_argument('config', help='the baseline config')
    parser.add_argument('out', help='checkpoint file to write (.pth)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'vtg_plugins'))
    model = MODELS.build(cfg.model)
    state = model.state_dict()
    if state:
        print(
            f'error: the model of {args.config} ({type(model).__name__}) '
            f'has {len(state)} state entries (e.g. {next(iter(state))!r}); '
            'this tool only writes the checkpoint of a parameter-free model',
            file=sys.stderr)
        return 1
    ckpt = dict(
        state_dict={},
        meta=dict(config=osp.basename(args.config), model=cfg.model.type))
    with atomic_write(args.out, 'wb') as f:
        torch.save(ckpt, f)
    print(f'{args.out}: the empty state dict of {cfg.model.type}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
