"""Extract CLIP video and query features into feature stores.

    python tools/data/extract_feat.py ANN [ANN ...] SRC --checkpoint CLIP.pt \
        [--arch ViT-B/32] [--k 4] [--backend dir|lmdb|packed] \
        [--out-dir DIR] [--ann-format normalized|qvhighlights|...]
    python tools/data/extract_feat.py ANN [ANN ...] --queries-only \
        --text-style groundnlq --checkpoint ViT-B-32.pt \
        --ann-format ego4d_nlq_json --query-store QUERY_LMDB

``SRC`` is a frame directory made by ``tools/data/extract_frames.py``
(``{vid}.npy`` = ``uint8 [T, 3, S, S]``) or a directory of video files, which
are decoded with the same recipe on the fly. For every video of ``ANN`` the
video store gets ``[T, k, P, Cv]`` (the last k visual blocks, all tokens of
every frame) and for every query the query store gets ``[L, k, Cq]`` (tokens
SOT…EOT of the last k text blocks), fp16 — the cache of the official
R²-Tuning ``tools/extract_feat.py`` (yeliudev/R2-Tuning). The stores default
to ``clip_{b32,b16,l14,l14_336px}_{vid,txt}_k{k}`` in ``--out-dir`` (default:
beside ``SRC``), so ``--backend dir`` gives exactly the official layout
``clip_b32_vid_k4/{vid}.npy``. Each store carries its recipe in
``meta.json`` (backbone, CLIP weights hash, layers, fps / clip length, crop,
dtype, layout).

Resumable: an interrupted run continues from ``STORE.partial``; a finished
store that lacks some keys (e.g. after failures) is reopened and completed;
a store made with another recipe is refused (``--overwrite`` rebuilds it).
A query longer than the CLIP text context stops the run before any work,
naming the query ids (``--truncate-queries`` cuts them as the official tool
does). A video that cannot be decoded is reported and skipped; the run then
lists the failures and exits with status 1.

``--text-style groundnlq`` writes GroundNLQ's query features instead
(houzhijian/CONE ``feature_extraction/ego4d_clip_token_extractor.py``, the
extractor houzhijian/GroundNLQ refers to): each query made canonical
(``--text-normalizer``, default ``canonical_question``), at most 30 BPE
tokens, the last text block after ``ln_final``, tokens between SOT and EOT
→ ``[L, 512]`` float32 for ViT-B/32, by default into an LMDB of npz values
``token_features`` keyed by qid (``'{annotation_uid}_{query_idx}'`` for the
official ``nlq_{split}.json``, ``--ann-format ego4d_nlq_json``), GroundNLQ's
layout. ``--queries-only`` skips the video store (GroundNLQ's video features
are InternVideo + EgoVLP); its ``--fps`` (e.g. ``30/16.043``) only records
the rate of the video features the queries are paired with in the store's
``meta.json``, for configs that check ``clip_len`` on both stores. Several
annotation files (e.g. all splits) go into one store.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from vtg_plugins.apis.extraction import (FrameSources, init_worker,
                                         open_writer, resolve_source,
                                         writer_kwargs)
from vtg_plugins.apis.features import FeatureExtractor, FeatureRecipe
from vtg_plugins.apis.frames import DECODERS
from vtg_plugins.datasets import (load_ego4d_nlq_json,
                                  load_grounding_annotations)
from vtg_plugins.datasets.feature_stores import BACKENDS
from vtg_plugins.models.clip_encoder import (CLIP_ARCHS, GROUNDNLQ_MAX_BPE,
                                             TEXT_TOKEN_STYLES, canonical_arch)

#: defaults of each --text-style (official R²-Tuning / GroundNLQ stores)
STYLE_DEFAULTS = {
    'sot_eot_last_k':
    dict(k=4, dtype='float16', text_normalizer=None, backend='dir'),
    'groundnlq':
    dict(
        k=1,
        dtype='float32',
        text_normalizer='canonical_question',
        backend='lmdb'),
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
        description='Extract CLIP features: last-k layers (R²-Tuning cache) '
        "or GroundNLQ's query tokens.",
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
        '--text-style',
        default='sot_eot_last_k',
        choices=TEXT_TOKEN_STYLES,
        help="query features: 'sot_eot_last_k' (R²-Tuning: SOT…EOT of the "
        "last k blocks) or 'groundnlq' (last block after ln_final, no "
        'SOT/EOT, <= 30 BPE tokens)')
    parser.add_argument(
        '--text-normalizer',
        help="registered query normalizer ('none': as written; default: "
        "none, 'canonical_question' for groundnlq)")
    parser.add_argument(
        '--dtype',
        choices=('float16', 'float32'),
        help='storage dtype (default float16; float32 for groundnlq)')
    parser.add_argument(
        '--checkpoint',
        required=True,
        help='local CLIP weights (OpenAI .pt, open_clip checkpoint or state '
        'dict); nothing is downloaded')
    parser.add_argument(
        '--arch',
        default='ViT-B/32',
        choices=sorted(CLIP_ARCHS) + ['ViT-L/14-336'])
    parser.add_argument(
        '--k',
        type=int,
        help='last CLIP blocks kept (default 4; 1 for groundnlq)')
    parser.add_argument(
        '--ann-format',
        default='normalized',
        help="annotation format: 'normalized', 'ego4d_nlq_json' (official "
        "nested nlq_{split}.json) or an official one (e.g. 'qvhighlights', "
        "'ego4d_nlq_jsonl')")
    parser.add_argument(
        '--src-type',
        default='auto',
        choices=('auto', 'frames', 'videos'),
        help='auto: frames if SRC holds .npy files, else videos')
    parser.add_argument(
        '--fps',
        type=_rate,
        help='videos: sampling rate (default 0.5); frames: must agree with '
        'their meta.json (needed when it is absent); --queries-only: rate '
        'of the paired video features, recorded in meta.json (a fraction '
        'like 30/16.043 is accepted)')
    parser.add_argument(
        '--backend',
        choices=sorted(BACKENDS),
        help='feature-store backend (default: dir = official R²-Tuning .npy '
        'layout; lmdb = official GroundNLQ layout for groundnlq)')
    parser.add_argument(
        '--out-dir',
        help='store directory (default: beside SRC, or the first ANN with '
        '--queries-only)')
    parser.add_argument('--video-store', help='video store path')
    parser.add_argument('--query-store', help='query store path')
    parser.add_argument(
        '--model-config',
        help='open_clip model-config JSON replacing the built-in one of '
        '--arch (custom widths, tests)')
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
    for key, value in STYLE_DEFAULTS[args.text_style].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.text_normalizer == 'none':
        args.text_normalizer = None
    return args


def store_name(arch: str,
               k: int,
               modality: str,
               text_style: str = 'sot_eot_last_k') -> str:
    """Default store directory name: official R²-Tuning ones, e.g.
    ``clip_b32_vid_k4``; ``clip_b32_txt_groundnlq`` for GroundNLQ queries.
    """
    info = canonical_arch(arch)[4:].lower().replace('/', '').replace('-', '_')
    if modality == 'txt' and text_style == 'groundnlq':
        return f'clip_{info}_txt_groundnlq'
    return f'clip_{info}_{modality}_k{k}'


def load_queries(args) -> list:
    """The records of every annotation file; a qid in several files must
    have the same query there (kept once)."""
    records, seen = [], {}
    for ann in args.anns:
        if args.ann_format == 'ego4d_nlq_json':
            recs = load_ego4d_nlq_json(ann, window_policy='keep')
        else:
            recs = load_grounding_annotations(
                ann, fmt=args.ann_format, window_policy='keep')
        for rec in recs:
            if rec.qid not in seen:
                seen[rec.qid] = (ann, rec.query)
                records.append(rec)
            elif seen[rec.qid][1] != rec.query:
                raise ValueError(
                    f'qid {rec.qid!r} is {seen[rec.qid][1]!r} in '
                    f'{seen[rec.qid][0]} but {rec.query!r} in {ann}')
    return records


def extract_queries(extractor, records, root: Path, args) -> None:
    """Query store: ``[L, k, Cq]`` (``[L, Cq]`` for groundnlq) per qid."""
    meta = extractor.meta('query')
    if args.queries_only and args.fps is not None:
        meta.update(fps=args.fps, clip_len=1.0 / args.fps)
    qids = [r.qid for r in records]
    queries = [r.query for r in records]
    # validates every query (length) before anything is computed
    extractor.tokenize_queries(
        queries, ids=qids, truncate=args.truncate_queries)
    cut = extractor.encoder.num_cut(extractor.normalize_queries(queries))
    if cut:
        print(f'{cut} queries have more than {GROUNDNLQ_MAX_BPE} BPE tokens: '
              'cut to the first ones, as the official extractor does')
    writer = open_writer(args.backend, root, meta, qids, args.overwrite,
                         **writer_kwargs(args.backend, 'query', args.text_style))
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


def extract_videos(extractor, vids: List[str], kind: str,
                   paths: Dict[str, Path], root: Path, args) -> List[str]:
    """Video store: ``[T, k, P, Cv]`` per vid; returns the failures."""
    meta = extractor.meta('video')
    writer = open_writer(args.backend, root, meta, vids, args.overwrite,
                         **writer_kwargs(args.backend, 'video', args.text_style))
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
            FrameSources(todo, recipe.fps, recipe.crop, args.video_backend),
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
    if args.queries_only:
        kind, paths, frame_recipe = None, {}, dict(fps=None)
    else:
        kind, paths, frame_recipe = resolve_source(args.src, args.src_type,
                                                     args.fps)
    model_cfg = None
    if args.model_config:
        with open(args.model_config, encoding='utf-8') as f:
            model_cfg = json.load(f)
    records = load_queries(args)
    extractor = FeatureExtractor(
        FeatureRecipe(
            backbone=args.arch,
            k=args.k,
            **frame_recipe,
            crop=_image_size(args.arch, model_cfg),
            dtype=args.dtype,
            text_tokens=args.text_style,
            text_normalizer=args.text_normalizer),
        checkpoint=args.checkpoint,
        device=args.device,
        model_cfg=model_cfg,
        precision=args.precision,
        frame_batch=args.frame_batch,
        video_backend=args.video_backend)
    out_dir = Path(args.out_dir) if args.out_dir else \
        Path(args.src or args.anns[0]).resolve().parent
    query_root = Path(
        args.query_store
        or out_dir / store_name(args.arch, args.k, 'txt', args.text_style))
    extract_queries(extractor, records, query_root, args)
    if args.queries_only:
        print(f'done: {len(records)} queries -> {query_root}')
        return 0

    video_root = Path(args.video_store
                      or out_dir / store_name(args.arch, args.k, 'vid'))
    vids = list(dict.fromkeys(r.vid for r in records))
    failures = extract_videos(extractor, vids, kind, paths, video_root, args)
    if failures:
        print(
            f'{len(failures)} of {len(vids)} videos failed (the others are '
            f'in {video_root}; run again to retry):',
            file=sys.stderr)
        for line in failures:
            print(f'  {line}', file=sys.stderr)
        return 1
    print(f'done: {len(vids)} videos -> {video_root}, {len(records)} queries '
          f'-> {query_root}')
    return 0


def _image_size(arch: str, model_cfg: Optional[dict]) -> int:
    """Input side of the CLIP (the crop of the recipe)."""
    if model_cfg is None:
        import open_clip
        model_cfg = open_clip.get_model_config(
            CLIP_ARCHS[canonical_arch(arch)])
    return int(model_cfg['vision_cfg']['image_size'])


if __name__ == '__main__':
    sys.exit(main())
