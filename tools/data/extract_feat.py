"""Extract CLIP video and query features into feature stores.

    python tools/data/extract_feat.py ANN [ANN ...] SRC --checkpoint CLIP.pt \
        [--config CONFIG [--split train|val|test]] [--arch ViT-B/32] [--k 4] \
        [--backend dir|lmdb|packed] [--out-dir DIR] [--ann-format FORMAT]
    python tools/data/extract_feat.py ANN [ANN ...] --queries-only \
        --config CONFIG --checkpoint CLIP.pt [--compress]

``SRC`` is a frame directory of ``tools/data/extract_frames.py``
(``{vid}.npy`` = ``uint8 [T, 3, S, S]``) or a directory of video files,
decoded with the same recipe on the fly. The video store gets
``[T, k, P, Cv]`` per video (the last k visual blocks, all tokens of every
frame), the query store the features of the query-token recipe
(``--text-tokens``, :mod:`vtg_plugins.features.query_tokens`; default
``sot_eot_last_k``: ``[L, k, Cq]``, tokens SOT…EOT of the last k text
blocks) per query, after the text normalizer; the defaults make the cache
of the official R²-Tuning ``tools/extract_feat.py`` (yeliudev/R2-Tuning).

The recipe: the ``FeatureRecipe`` defaults, then (``--config``) what the
datasets of ``--split`` state -- their ``recipe`` (``layers`` give k,
``clip_len`` or ``ann_kwargs.clip_len`` the rate), the config's
``query_recipe`` for the query store, their stores and annotation format
-- then the flags. A store the config would refuse is not made. Without a
config the stores are named by their recipe, ``clip_{b32,...}_{vid,txt}_k{k}``
for the default query-token recipe (with ``--backend dir`` exactly the
official ``clip_b32_vid_k4/{vid}.npy``), in ``--out-dir`` (default: beside
``SRC``, or the first ``ANN``). Each store's ``meta.json`` holds its recipe.

Resumable: a run continues from ``STORE.partial``; a finished store lacking
keys is reopened and completed; a store of another recipe is refused
(``--overwrite`` rebuilds it). A query the query-token recipe cannot encode
(e.g. longer than the text context; ``--truncate-queries`` cuts those) stops
the run before any work, naming its id. Videos that cannot be decoded are
reported and skipped, and the run exits with status 1; so are videos that
decode to fewer frames than their stated duration gives (a truncated file),
unless ``--allow-short`` (logged).

``--queries-only`` skips the video store (video features of other
backbones); the rate (``--fps``, e.g. ``30/16.043``, or the config's) is
then recorded in the query store's ``meta.json`` for configs that check
``clip_len`` on both stores. ``--compress`` writes ``np.savez_compressed``
values (LMDB; ``.npz`` files with ``dir``). Several annotation files (e.g.
all splits) go into one store.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from vtg_plugins.datasets import load_grounding_annotations
from vtg_plugins.datasets.feature_stores import BACKENDS
from vtg_plugins.features import CLIP_ARCHS, FeatureRecipe, canonical_arch
from vtg_plugins.features.config_recipes import run_recipe, stated_features
from vtg_plugins.features.extractor import FeatureExtractor
from vtg_plugins.features.frames import DECODERS
from vtg_plugins.features.store_writing import (FrameSources,
                                                default_store_name,
                                                init_worker, open_writer,
                                                resolve_source, writer_kwargs)

#: recipe flag -> the FeatureRecipe field (or ``model_cfg``) it overrides
RECIPE_FLAGS = {
    'arch': 'backbone',
    'k': 'k',
    'dtype': 'dtype',
    'fps': 'fps',
    'text_tokens': 'text_tokens',
    'text_normalizer': 'text_normalizer',
    'model_config': 'model_cfg',
}


def _rate(text: str) -> float:
    """A positive rate, plain or as a fraction (``'30/16.043'``)."""
    num, _, den = text.partition('/')
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f'not a rate: {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'rate must be positive: {text!r}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract CLIP video and query features into stores.',
        usage='%(prog)s ANN [ANN ...] SRC [options]\n'
        '       %(prog)s ANN [ANN ...] --queries-only [options]')
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='ANN... SRC',
        help='query annotation file(s) (.jsonl / .json), then the frame or '
        'video directory (no SRC with --queries-only)')
    parser.add_argument(
        '--queries-only',
        action='store_true',
        help='write only the query store (no SRC)')
    parser.add_argument(
        '--config',
        help="a config whose datasets' recipe, stores and annotation format "
        'this run follows (flags override)')
    parser.add_argument(
        '--split',
        default='train',
        choices=('train', 'val', 'test'),
        help='the dataloader of --config whose datasets are read (train)')
    parser.add_argument(
        '--checkpoint',
        required=True,
        help='local CLIP weights (OpenAI .pt, open_clip checkpoint or state '
        'dict); nothing is downloaded')
    # recipe flags: None = not given (the config's or the default value)
    parser.add_argument(
        '--arch',
        choices=sorted(CLIP_ARCHS) + ['ViT-L/14-336'],
        help='CLIP architecture (default ViT-B/32)')
    parser.add_argument(
        '--k', type=int, help='last CLIP blocks kept (default 4)')
    parser.add_argument(
        '--dtype',
        choices=('float16', 'float32'),
        help='storage dtype (default float16)')
    parser.add_argument(
        '--text-tokens',
        help='registered query-token recipe (default sot_eot_last_k: SOT…EOT '
        'of the last k blocks; between_sot_eot_ln_final_max30: last block '
        'after ln_final, no SOT/EOT, <= 30 BPE tokens, k=1)')
    parser.add_argument(
        '--text-normalizer',
        help="registered query normalizer ('none': as written, the default)")
    parser.add_argument(
        '--fps',
        type=_rate,
        help='videos: sampling rate (default 0.5); frames: must agree with '
        'their meta.json (needed when it is absent); --queries-only: rate '
        'of the paired video features, recorded in meta.json (a fraction '
        'like 30/16.043 is accepted)')
    parser.add_argument(
        '--model-config',
        help='open_clip model-config JSON replacing the built-in one of '
        '--arch (custom widths, tests)')
    parser.add_argument(
        '--ann-format',
        help="annotation format (default: the config's, else 'normalized'): "
        "'normalized', 'ego4d_nlq_json' (official nested nlq_{split}.json) "
        "or an official one (e.g. 'qvhighlights', 'ego4d_nlq_jsonl')")
    parser.add_argument(
        '--src-type',
        default='auto',
        choices=('auto', 'frames', 'videos'),
        help='auto: frames if SRC holds .npy files, else videos')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help="feature-store backend (default: the config's stores, else dir "
        '= the official R²-Tuning .npy layout)')
    parser.add_argument(
        '--compress',
        action='store_true',
        help='np.savez_compressed values (lmdb; .npz files with dir)')
    parser.add_argument(
        '--out-dir',
        help="store directory, stores named by their recipe (default: the "
        "config's stores, else beside SRC or the first ANN)")
    parser.add_argument('--video-store', help='video store path')
    parser.add_argument('--query-store', help='query store path')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--precision',
        default='fp32',
        choices=('fp32', 'fp16'),
        help='CLIP compute precision (official: fp16 on GPU)')
    parser.add_argument(
        '--frame-batch', type=int, default=128, help='frames per forward')
    parser.add_argument(
        '--query-batch', type=int, default=64, help='queries per forward')
    parser.add_argument(
        '--video-backend', default='auto', choices=('auto', ) + DECODERS)
    parser.add_argument(
        '--allow-short',
        action='store_true',
        help='keep the frames of a video that decodes to fewer frames than '
        'its stated duration gives (a truncated file; logged) instead of '
        'failing it')
    parser.add_argument(
        '--workers',
        type=int,
        default=2,
        help='video decoding processes (DataLoader workers)')
    parser.add_argument(
        '--truncate-queries',
        action='store_true',
        help='cut queries longer than the text context (official behaviour) '
        'instead of failing')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='rebuild existing stores from scratch')
    args = parser.parse_args(argv)
    if args.queries_only:
        args.anns, args.src = args.paths, None
    elif len(args.paths) < 2:
        parser.error('give the annotation file(s) and SRC, or pass '
                     '--queries-only')
    else:
        args.anns, args.src = args.paths[:-1], args.paths[-1]
    return args


def overrides(args) -> dict:
    """The recipe flags given, as :func:`run_recipe` overrides."""
    out = {
        name: getattr(args, flag)
        for flag, name in RECIPE_FLAGS.items()
        if getattr(args, flag) is not None
    }
    if out.get('text_normalizer') == 'none':
        out['text_normalizer'] = None
    if 'model_cfg' in out:
        with open(out['model_cfg'], encoding='utf-8') as f:
            out['model_cfg'] = json.load(f)
    return out


def store_target(args, stated, recipe: FeatureRecipe,
                 modality: str) -> Tuple[Path, str]:
    """``(path, backend)`` of the ``modality`` store. Path:
    ``--{video,query}-store`` > ``--out-dir`` + recipe name > the config's
    store > beside SRC (or the first ANN) + recipe name; backend:
    ``--backend`` > the config's store > ``dir``."""
    spec = getattr(stated, f'{modality}_store') if stated else None
    backend = args.backend or (spec.backend if spec else 'dir')
    if getattr(args, f'{modality}_store'):
        return Path(getattr(args, f'{modality}_store')), backend
    if args.out_dir:
        return Path(args.out_dir) / default_store_name(recipe,
                                                       modality), backend
    if spec is not None:
        return Path(spec.path), backend
    return Path(args.src or args.anns[0]).resolve().parent / \
        default_store_name(recipe, modality), backend


def load_queries(args) -> list:
    """The records of every annotation file; a qid in several files must
    have the same query there (kept once)."""
    records, seen = [], {}
    for ann in args.anns:
        for rec in load_grounding_annotations(
                ann, fmt=args.ann_format, window_policy='keep'):
            if rec.qid not in seen:
                seen[rec.qid] = (ann, rec.query)
                records.append(rec)
            elif seen[rec.qid][1] != rec.query:
                raise ValueError(
                    f'qid {rec.qid!r} is {seen[rec.qid][1]!r} in '
                    f'{seen[rec.qid][0]} but {rec.query!r} in {ann}')
    return records


def extract_queries(extractor, records, meta: dict, root: Path, backend: str,
                    args) -> None:
    """Query store: the query-token recipe's features per qid."""
    qids = [r.qid for r in records]
    queries = [r.query for r in records]
    # validates every query before anything is computed
    extractor.tokenize_queries(
        queries, ids=qids, truncate=args.truncate_queries)
    cut = extractor.encoder.num_cut(extractor.normalize_queries(queries))
    if cut:
        print(f'{cut} queries have more than '
              f'{extractor.encoder.query_tokens.max_bpe} BPE tokens: cut to '
              f'the first ones, as the {extractor.recipe.text_tokens!r} '
              'recipe does')
    writer = open_writer(backend, root, meta, qids, args.overwrite,
                         **writer_kwargs(backend, 'query', args.compress))
    if writer is None:
        print(f'{root}: complete ({len(qids)} queries)')
        return
    with writer:
        todo = [r for r in records if r.qid not in writer.done_keys]
        print(f'queries -> {root}: {len(todo)} to extract')
        bar = ProgressBar(len(todo)) if todo else None
        for i in range(0, len(todo), args.query_batch):
            chunk = todo[i:i + args.query_batch]
            feats = extractor.encode_queries([r.query for r in chunk],
                                             ids=[r.qid for r in chunk],
                                             batch_size=args.query_batch,
                                             truncate=args.truncate_queries)
            for rec, feat in zip(chunk, feats):
                writer.add(rec.qid, feat)
                bar.update()
    print()


def extract_videos(extractor, vids: List[str], kind: str, paths: Dict[str,
                                                                      Path],
                   root: Path, backend: str, args) -> List[str]:
    """Video store: ``[T, k, P, Cv]`` per vid; returns the failures."""
    writer = open_writer(backend, root, extractor.meta('video'), vids,
                         args.overwrite,
                         **writer_kwargs(backend, 'video', args.compress))
    if writer is None:
        print(f'{root}: complete ({len(vids)} videos)')
        return []
    failures = [
        f'{vid}: no video or frames in {args.src}' for vid in vids
        if vid not in paths
    ]
    with writer:
        todo = [(v, str(paths[v]), kind) for v in vids
                if v in paths and v not in writer.done_keys]
        print(f'videos ({kind}) -> {root}: {len(todo)} to extract')
        recipe = extractor.recipe
        loader = DataLoader(
            FrameSources(todo, recipe.fps, recipe.crop, args.video_backend,
                         args.allow_short),
            batch_size=None,
            num_workers=min(args.workers, len(todo)),
            worker_init_fn=init_worker)
        bar = ProgressBar(len(todo)) if todo else None
        for vid, frames, error in loader:
            if error is None:
                writer.add(vid, extractor.encode_frames(frames))
            else:
                print(f'\nfailed: {error}', file=sys.stderr)
                failures.append(error)
            bar.update()
    print()
    return failures


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    stated = stated_features(
        Config.fromfile(args.config), args.split,
        args.config) if args.config else None
    args.ann_format = (
        args.ann_format or (stated and stated.ann_format) or 'normalized')
    run = run_recipe(stated, overrides(args), not args.queries_only)
    kwargs = dict(run.kwargs)
    rate = kwargs.pop('fps', None)  # the flag's, else the config's
    if args.queries_only:
        kind, paths, frame_recipe = None, {}, dict(fps=None)
    else:
        kind, paths, frame_recipe = resolve_source(args.src, args.src_type,
                                                   args.fps)
        if kind == 'videos' and rate is not None:
            frame_recipe['fps'] = rate
    kwargs.setdefault(
        'crop', _image_size(kwargs.get('backbone', 'ViT-B/32'), run.model_cfg))
    records = load_queries(args)
    extractor = FeatureExtractor(
        FeatureRecipe(**dict(kwargs, **frame_recipe)),
        checkpoint=args.checkpoint,
        device=args.device,
        model_cfg=run.model_cfg,
        precision=args.precision,
        frame_batch=args.frame_batch,
        video_backend=args.video_backend)
    query_meta = extractor.meta('query')
    if args.queries_only and rate is not None:
        query_meta.update(fps=rate, clip_len=1.0 / rate)
    metas = dict(query=query_meta)
    if not args.queries_only:
        metas['video'] = extractor.meta('video')
    for modality, meta in metas.items():  # what the config would refuse
        run.check(meta, modality)
    query_root, backend = store_target(args, stated, extractor.recipe, 'query')
    extract_queries(extractor, records, query_meta, query_root, backend, args)
    if args.queries_only:
        print(f'done: {len(records)} queries -> {query_root}')
        return 0

    video_root, backend = store_target(args, stated, extractor.recipe, 'video')
    vids = list(dict.fromkeys(r.vid for r in records))
    failures = extract_videos(extractor, vids, kind, paths, video_root,
                              backend, args)
    if failures:
        print(
            f'{len(failures)} of {len(vids)} videos failed (the others are '
            f'in {video_root}; run again to retry):',
            file=sys.stderr)
        for line in failures:
            print(f'  {line}', file=sys.stderr)
        return 1
    print(f'done: {len(vids)} videos -> {video_root}, {len(records)} '
          f'queries -> {query_root}')
    return 0


def _image_size(arch: str, model_cfg: Optional[dict]) -> int:
    """Input side of the CLIP (the crop of the recipe)."""
    if model_cfg is None:
        import open_clip
        model_cfg = open_clip.get_model_config(
            CLIP_ARCHS[canonical_arch(arch)].open_clip_name)
    return int(model_cfg['vision_cfg']['image_size'])


if __name__ == '__main__':
    sys.exit(main())
