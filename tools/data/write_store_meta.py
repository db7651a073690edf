"""Write the recipe ``meta.json`` of a feature store that has none (the
official pre-extracted downloads), from the recipe a config states.

    python tools/data/write_store_meta.py STORE --config CONFIG \
        [--split train] [--modality video|query] [--recipe KEY=VALUE ...]
    python tools/data/write_store_meta.py STORE --modality video \
        --recipe backbone=ViT-B/32 weights=openai 'layers=[9,10,11,12]' \
        clip_len=2.0 crop=224 dtype=float16

With ``--config``, the recipe is the one the datasets of ``--split`` state
for that store: ``recipe`` for the video store, and for the query store
``query_recipe`` (laid over the CLIP fields of ``recipe`` when it names no
backbone of its own). ``--modality`` defaults to the store of the config
whose path is ``STORE``. ``--recipe`` adds or replaces fields (values are
JSON where they parse, e.g. ``[9,10,11,12]``, ``2.0``, ``null``, else
strings). The recipe must be complete (backbone, weights, dtype, and the
rate, layers, crop or feature width of its modality) and is checked against
the first arrays of the store (dtype, feature width, k, CLIP widths) before
anything is written; the file is written atomically. A store whose
``meta.json`` states another recipe is refused without ``--force``.
"""
import argparse
import json
import os.path as osp
import sys
from numbers import Real
from pathlib import Path
from typing import List, Optional

import numpy as np
from mmengine.config import Config

from vtg_plugins.datasets.feature_stores import BACKENDS, META_FILE, read_meta
from vtg_plugins.features import CLIP_ARCHS, canonical_arch
from vtg_plugins.features.config_recipes import stated_features
from vtg_plugins.features.recipe import (is_clip_backbone, missing_fields,
                                         query_store_recipe, recipe_conflicts,
                                         recipe_differences)
from vtg_plugins.utils.io import atomic_write_json

#: items whose arrays are compared with the recipe
NUM_CHECKED = 3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a feature store's meta.json from a stated recipe.")
    parser.add_argument('store', help='the feature store directory')
    parser.add_argument(
        '--config', help='a config whose datasets state the '
        "store's recipe")
    parser.add_argument(
        '--split',
        default='train',
        choices=('train', 'val', 'test'),
        help='the dataloader of --config whose datasets are read (train)')
    parser.add_argument(
        '--modality',
        choices=('video', 'query'),
        help="the store's features (default: the config's store at STORE)")
    parser.add_argument(
        '--recipe',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='recipe fields to add or replace (JSON values, else strings)')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help="the store's backend (default: the config's, else detected)")
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a meta.json that states another recipe')
    args = parser.parse_args(argv)
    if not args.config and not args.recipe:
        parser.error('give --config or --recipe (the recipe to write)')
    if not args.config and not args.modality:
        parser.error('--modality is needed without --config')
    return args


def parse_fields(pairs: List[str]) -> dict:
    """``['k=1', 'backbone=ViT-B/32']`` -> ``{'k': 1, 'backbone': ...}``."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition('=')
        if not sep or not key:
            raise ValueError(f'--recipe {pair!r} is not KEY=VALUE')
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def _same_path(a, b) -> bool:
    return osp.realpath(a) == osp.realpath(b)


def stated_recipe(args) -> tuple:
    """``(recipe, modality, backend)`` the config (and ``--recipe``)
    state for ``args.store``."""
    recipe, modality, backend = {}, args.modality, args.backend
    if args.config:
        stated = stated_features(
            Config.fromfile(args.config), args.split, args.config)
        specs = dict(video=stated.video_store, query=stated.query_store)
        if modality is None:
            modality = next((m for m, spec in specs.items()
                             if spec and _same_path(spec.path, args.store)),
                            None)
            if modality is None:
                raise ValueError(
                    f'{args.store} is neither store of {stated.source} '
                    f'({", ".join(s.path for s in specs.values() if s)}): '
                    'give --modality')
        spec = specs[modality]
        if backend is None and spec and _same_path(spec.path, args.store):
            backend = spec.backend
        recipe = stated.recipe if modality == 'video' else \
            query_store_recipe(stated.recipe, stated.query_recipe)
    recipe = dict(recipe, **parse_fields(args.recipe))
    return recipe, modality, backend or detect_backend(Path(args.store))


def detect_backend(root: Path) -> str:
    """``'lmdb'`` (a ``data.mdb``), ``'packed'`` (shard files) or
    ``'dir'``."""
    if (root / 'data.mdb').exists():
        return 'lmdb'
    if any(root.glob('*_index.json')) or any(root.glob('*_0_data.npy')):
        return 'packed'
    return 'dir'


def array_problems(array: np.ndarray, recipe: dict,
                   modality: str) -> List[str]:
    """How one stored array contradicts ``recipe``."""
    out, shape = [], list(array.shape)
    if array.dtype != np.dtype(recipe['dtype']):
        out.append(f'dtype {array.dtype}, the recipe says {recipe["dtype"]}')
    if 'feat_dim' in recipe and shape[-1] != recipe['feat_dim']:
        out.append(f'{shape[-1]} channels, the recipe says feat_dim '
                   f'{recipe["feat_dim"]}')
    if not is_clip_backbone(recipe['backbone']):
        return out
    k = len(recipe['layers']) if 'layers' in recipe else recipe.get('k')
    if array.ndim >= 3 and k is not None and shape[1] != k:
        out.append(f'{shape[1]} layers on axis 1, the recipe keeps {k}')
    if 'model_cfg' not in recipe:  # the architecture's own widths
        arch = CLIP_ARCHS[canonical_arch(recipe['backbone'])]
        width = arch.visual_width if modality == 'video' else arch.text_width
        if shape[-1] != width:
            out.append(f'{shape[-1]} channels, {recipe["backbone"]} has '
                       f'{width}')
        if modality == 'video' and array.ndim == 4 and \
                shape[2] != arch.num_tokens:
            out.append(f'{shape[2]} tokens per frame, {recipe["backbone"]} '
                       f'has {arch.num_tokens}')
    return out


def check_store(store, recipe: dict, modality: str) -> None:
    """Refuse an empty store or one whose first arrays contradict
    ``recipe``."""
    keys = store.keys()
    if not keys:
        raise ValueError(f'{store.root}: the store holds no features')
    for key in keys[:NUM_CHECKED]:
        problems = array_problems(store[key], recipe, modality)
        if problems:
            raise ValueError(
                f'{store.root}: {modality} features {key!r} of shape '
                f'{list(store[key].shape)} are not those of the recipe: '
                f'{"; ".join(problems)}')


def with_both_rates(recipe: dict) -> dict:
    """``recipe`` with ``fps`` and ``clip_len`` both, where it states a
    numeric one (as the extractor records them)."""
    out = dict(recipe)
    for have, add in (('fps', 'clip_len'), ('clip_len', 'fps')):
        value = out.get(have)
        if add not in out and isinstance(value, Real) and value > 0:
            out[add] = 1.0 / value
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    recipe, modality, backend = stated_recipe(args)
    problems = [f'no {key}' for key in missing_fields(recipe, modality)]
    problems += recipe_conflicts(recipe)
    if problems:
        raise ValueError(f'the {modality} recipe {recipe} is not a complete '
                         f'recipe: {"; ".join(problems)}')
    store = BACKENDS[backend][0](args.store)
    check_store(store, recipe, modality)
    meta = with_both_rates(recipe)
    existing = read_meta(store.root)
    if existing:
        diffs = recipe_differences(existing, meta)
        if not diffs:
            print(f'{store.root / META_FILE} already states this recipe')
            return 0
        if not args.force:
            raise ValueError(
                f'{store.root / META_FILE} states another recipe ('
                f'{"; ".join(diffs)}); --force replaces it')
    meta['recipe_source'] = (f'stated by {args.config or "--recipe"} '
                             '(tools/data/write_store_meta.py)')
    atomic_write_json(store.root / META_FILE, meta)
    print(f'{store.root / META_FILE}: {modality} recipe written')
    return 0


if __name__ == '__main__':
    sys.exit(main())
