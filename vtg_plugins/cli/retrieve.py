"""``vtg retrieve``: text-to-video retrieval over a directory of videos with
any dual encoder (HD-VILA, TempCLR, ...) through the zero-shot embeddings of
:mod:`vtg_plugins.apis.dual_encoder` (``init_dual_encoder``,
``encode_video``, ``encode_text``, ``similarity``).

What a "video" is, is the model's: its embedder reads the directory's
files. HD-VILA decodes video files through the config's test pipeline;
TempCLR reads pre-extracted S3D feature files (``[T, 512]`` ``.npy`` /
``.npz`` / ``.pt``). Every file of the directory with a video or feature
suffix is a candidate (``--ext`` narrows that down); a file the model
cannot read is an error naming it.
"""
import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from ._command import command_parser

SUMMARY = ('rank the videos of a directory for text queries with any dual '
           'encoder (HD-VILA: video files, TempCLR: S3D feature files)')
EXAMPLE = """
vtg retrieve \
configs/hd_vila/hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt.py \
work_dirs/hd_vila_tiny-retrieval_1xb2-2e_synthetic-msrvtt/epoch_2.pth \
--videos data/hd_vila_synthetic/retrieval/videos_6fps \
--text "a dog runs on the grass" --text "a man is playing the guitar" --top-k 3
vtg retrieve configs/tempclr/tempclr_tiny_1xb1-2e_synthetic-shards.py \
work_dirs/tempclr_tiny_1xb1-2e_synthetic-shards/epoch_2.pth \
--videos data/tempclr_synthetic/youcook2/features --text "cut the onion" \
--batch-size 2 --out-json ranking.json
"""
#: suffixes of the video files looked for (those of tools/data/extract_*)
VIDEO_SUFFIXES = ('.mp4', '.mkv', '.avi', '.webm', '.mov')


class InputError(Exception):
    """A bad input of the command; the message names it."""


def candidate_suffixes() -> List[str]:
    """Video and feature file suffixes, in that order."""
    from vtg_plugins.apis.video_inputs import FEATURE_FILE_SUFFIXES
    return list(VIDEO_SUFFIXES) + list(FEATURE_FILE_SUFFIXES)


def list_videos(video_dir: str, suffixes: Sequence[str]) -> List[str]:
    """The files of ``video_dir`` (not recursive, hidden ones left out)
    with one of ``suffixes``, sorted by name.

    Raises:
        InputError: no such directory, an empty one, none of its files has
            one of the suffixes, or two share a name stem.
    """
    from vtg_plugins.features.frames import find_videos
    if not os.path.isdir(video_dir):
        raise InputError(f'--videos {video_dir} is not a directory')
    present = sorted(
        p.name for p in Path(video_dir).iterdir()
        if not p.name.startswith('.'))
    if not present:
        raise InputError(f'--videos {video_dir} is empty')
    try:
        found = find_videos(video_dir, exts=suffixes)
    except ValueError as e:
        raise InputError(f'--videos {video_dir}: {e}') from None
    if not found:
        shown = ', '.join(present[:5]) + (', ...' if len(present) > 5 else '')
        raise InputError(
            f'--videos {video_dir} holds no file of the types '
            f'{" ".join(suffixes)} ({len(present)} other entries: {shown})')
    return [os.fspath(p) for p in found.values()]


def embed_videos(model, files: List[str], batch_size: int):
    """``[N, H]`` embeddings of ``files``, ``batch_size`` a forward, with a
    progress bar on stderr when there is more than one batch.

    Raises:
        InputError: a file the model cannot read (the model's error, which
            names it; else the files of its batch are named).
    """
    import torch
    from mmengine.utils import ProgressBar

    from vtg_plugins.apis import encode_video
    from vtg_plugins.features.frames import VideoDecodeError
    bad_input = (FileNotFoundError, ValueError, VideoDecodeError)
    bar = ProgressBar(len(files), file=sys.stderr) \
        if len(files) > batch_size else None
    out = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        try:
            out.append(encode_video(model, chunk, batch_size=len(chunk)))
        except bad_input as e:
            named = any(f in str(e) for f in chunk)
            raise InputError(
                str(e) if named else f'embedding {", ".join(chunk)}: {e}'
            ) from None
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        sys.stderr.write('\n')
    return torch.cat(out)


def rank(scores, files: List[str], texts: List[str], top_k: int) -> list:
    """The ``top_k`` videos of every text by ``scores`` ``[Nt, Nv]``
    (highest first, ties in file order)."""
    import numpy as np
    scores = np.asarray(scores)
    results = []
    for text, row in zip(texts, scores):
        order = np.argsort(-row, kind='stable')[:top_k]
        results.append(
            dict(
                text=text,
                ranking=[
                    dict(rank=r + 1, video=files[i], score=float(row[i]))
                    for r, i in enumerate(order)
                ]))
    return results


def build_parser() -> argparse.ArgumentParser:
    suffixes = candidate_suffixes()
    parser = command_parser('retrieve', SUMMARY, EXAMPLE)
    parser.add_argument('config', help='the dual encoder\'s config')
    parser.add_argument('checkpoint', help='its checkpoint (path or URL)')
    parser.add_argument(
        '--videos',
        required=True,
        metavar='DIR',
        help='directory of the videos to rank (not searched recursively): '
        f'video files ({" ".join(VIDEO_SUFFIXES)}) for models that decode '
        'videos (HD-VILA configs whose test pipeline opens video files), '
        f'feature files ({" ".join(suffixes[len(VIDEO_SUFFIXES):])}, '
        '[T, D]) for models over pre-extracted features (TempCLR: S3D, '
        'D=512)')
    parser.add_argument(
        '--text',
        action='append',
        required=True,
        dest='texts',
        metavar='TEXT',
        help='a text query; repeat for several')
    parser.add_argument(
        '--top-k', type=int, default=5, help='videos shown per text')
    parser.add_argument(
        '--ext',
        nargs='+',
        choices=[s.lstrip('.') for s in suffixes],
        metavar='EXT',
        help='only the files with these suffixes (default: all of '
        f'{" ".join(s.lstrip(".") for s in suffixes)})')
    parser.add_argument(
        '--batch-size', type=int, default=8, help='videos per forward')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument(
        '--out-json',
        metavar='FILE',
        help='write the top-k of every text as JSON: [{"text", "ranking": '
        '[{"rank", "video", "score"}]}]')
    return parser


def retrieve(args: argparse.Namespace) -> list:
    """The ranking of ``args``; see :func:`rank`.

    Raises:
        InputError: a bad file, directory or text (named).
    """
    from vtg_plugins.apis import encode_text, init_dual_encoder, similarity
    suffixes = ['.' + e for e in args.ext] if args.ext else \
        candidate_suffixes()
    files = list_videos(args.videos, suffixes)
    if '://' not in args.checkpoint and not os.path.isfile(args.checkpoint):
        raise InputError(f'checkpoint {args.checkpoint} does not exist')
    try:
        model = init_dual_encoder(args.config, args.checkpoint, args.device)
        text_emb = encode_text(model, args.texts)
    except (FileNotFoundError, TypeError, ValueError) as e:
        raise InputError(str(e)) from None
    except (RuntimeError, KeyError) as e:
        raise InputError(f'cannot build the model of {args.config} with '
                         f'{args.checkpoint}: {e}') from None
    video_emb = embed_videos(model, files, args.batch_size)
    scores = similarity(text_emb, video_emb, model)
    return rank(scores, files, args.texts, args.top_k)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f'--top-k must be positive, got {args.top_k}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be positive, got {args.batch_size}')
    try:
        results = retrieve(args)
    except InputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for i, result in enumerate(results):
        print(f'text {i}: {result["text"]!r}')
        for hit in result['ranking']:
            print(f'  #{hit["rank"]}: {os.path.basename(hit["video"])}  '
                  f'score {hit["score"]:.4f}')
    if args.out_json:
        from vtg_plugins.utils.io import atomic_write
        with atomic_write(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
        print(f'ranking: {args.out_json}')
    return 0
