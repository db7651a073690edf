"""``vtg recognize``: the action classes of video files with TSTL (a
``Recognizer3D`` over its backbone, or ``TSTLRoutedRecognizer``: selector
then experts) or any MMAction2 recognizer, through
:func:`vtg_plugins.apis.recognition.recognize_video`: the config's test
pipeline (all its views), then the model's ``predict``.

Class names come from ``--label-map`` (one name a line, MMAction2's
``label_map_*.txt`` layout), else from the test dataset's
``metainfo=dict(classes=[...])`` when the config states one, else the class
indices are shown.
"""
import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

from ._command import command_parser

SUMMARY = ('action classes of video files with TSTL (selector + experts '
           'too) or any MMAction2 recognizer; prints the top-k scores')
EXAMPLE = """
vtg recognize configs/tstl/tstl_tiny_1xb4-6e_synthetic-videos.py \
work_dirs/tstl_tiny/epoch_6.pth data/tstl_synthetic/videos/val_000_000.mp4 \
data/tstl_synthetic/videos/val_003_001.mp4 --top-k 2
vtg recognize configs/tstl/tstl_tiny-routed_1xb2_synthetic-videos.py none \
data/tstl_synthetic/videos/val_001_000.mp4 --out-json recognized.json
"""
#: the CKPT of a model that loads its own weights
NO_CHECKPOINT = 'none'


class InputError(Exception):
    """A bad input of the command; the message names it."""


def read_label_map(path: str) -> List[str]:
    """The class names of a label map, one a line (trailing blank lines
    ignored).

    Raises:
        InputError: a missing or unreadable file, or a blank line.
    """
    try:
        lines = Path(path).read_text(encoding='utf-8').splitlines()
    except FileNotFoundError:
        raise InputError(f'label map {path} does not exist') from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f'cannot read label map {path}: {e}') from None
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError(f'label map {path} line {number} is blank '
                             '(one class name a line)')
    if not lines:
        raise InputError(f'label map {path} is empty')
    return [line.strip() for line in lines]


def check_names(names: Optional[List[str]], source: str,
                num_classes: int) -> None:
    """Refuse class names that are not one per class of the model."""
    if names is not None and len(names) != num_classes:
        raise InputError(f'{source} names {len(names)} classes, the model '
                         f'predicts {num_classes}')


def top_classes(scores, names: Optional[List[str]], top_k: int) -> list:
    """The ``top_k`` classes of a ``[C]`` score vector, highest first."""
    order = scores.argsort(descending=True, stable=True)[:top_k].tolist()
    return [
        dict(
            rank=r + 1,
            label=i,
            name=None if names is None else names[i],
            score=float(scores[i])) for r, i in enumerate(order)
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser('recognize', SUMMARY, EXAMPLE)
    parser.add_argument('config', help="the recognizer's config")
    parser.add_argument(
        'checkpoint',
        help=f'its checkpoint (path or URL), or {NO_CHECKPOINT!r} for a '
        'model that loads its own weights (TSTLRoutedRecognizer: its config '
        'names the selector and expert checkpoints)')
    parser.add_argument(
        'videos',
        nargs='+',
        metavar='VIDEO',
        help='video files the test pipeline decodes (.mp4, .avi, .mkv, '
        '.webm, ...: whatever decord or PyAV reads)')
    parser.add_argument(
        '--top-k', type=int, default=5, help='classes shown per video')
    parser.add_argument(
        '--label-map',
        metavar='FILE',
        help='class names, one a line in class order (default: the test '
        "dataset's metainfo classes, else class indices)")
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument(
        '--out-json',
        metavar='FILE',
        help='write the top-k of every video as JSON: [{"video", '
        '"predictions": [{"rank", "label", "name", "score"}]}]')
    return parser


def print_result(result: dict) -> None:
    print(f'video {result["video"]}')
    for hit in result['predictions']:
        name = f'class {hit["label"]}' if hit['name'] is None else \
            f'{hit["name"]} (class {hit["label"]})'
        print(f'  #{hit["rank"]}: {name}  score {hit["score"]:.4f}')


def load_model(args: argparse.Namespace):
    """The recognizer of ``args.config`` / ``args.checkpoint`` and its test
    pipeline.

    Raises:
        InputError: a missing checkpoint or config, or a model that cannot
            be built with them.
    """
    from vtg_plugins.apis.recognition import (build_test_pipeline,
                                              init_recognizer)
    checkpoint = None if args.checkpoint == NO_CHECKPOINT else \
        args.checkpoint
    if checkpoint is None:
        print(
            'no checkpoint: the model keeps the weights it is built with '
            '(those its config names, e.g. TSTLRoutedRecognizer; random '
            'otherwise)',
            file=sys.stderr)
    elif '://' not in checkpoint and not os.path.isfile(checkpoint):
        raise InputError(f'checkpoint {checkpoint} does not exist')
    try:
        model = init_recognizer(args.config, checkpoint, args.device)
        return model, build_test_pipeline(model.cfg)
    except (FileNotFoundError, ValueError) as e:
        raise InputError(str(e)) from None
    except (RuntimeError, KeyError, TypeError) as e:
        raise InputError(f'cannot build the model of {args.config} with '
                         f'{args.checkpoint}: {e}') from None


def recognize(args: argparse.Namespace) -> list:
    """Recognize ``args.videos``, printing each result as it comes.

    Raises:
        InputError: a bad video, checkpoint, config or label map (named).
    """
    from vtg_plugins.apis.recognition import dataset_classes, recognize_video
    from vtg_plugins.features.frames import VideoDecodeError
    missing = [v for v in args.videos if not os.path.isfile(v)]
    if missing:
        raise InputError(f'video {missing[0]} does not exist')
    names = read_label_map(args.label_map) if args.label_map else None
    model, pipeline = load_model(args)
    source = f'label map {args.label_map}'
    if names is None:
        names, source = dataset_classes(model.cfg), f'config {args.config}'
    results = []
    for video in args.videos:
        try:
            sample = recognize_video(model, video, pipeline)
        except (FileNotFoundError, ValueError, VideoDecodeError) as e:
            raise InputError(str(e)) from None
        scores = sample.pred_score.detach().float().cpu()
        if scores.dim() != 1:
            raise InputError(
                f'{type(model).__name__} scored {video} as shape '
                f'{list(scores.shape)}, not one score per class: its head '
                "must average the views (cls_head.average_clips='prob')")
        check_names(names, source, len(scores))
        results.append(
            dict(
                video=video,
                predictions=top_classes(scores, names, args.top_k)))
        print_result(results[-1])
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f'--top-k must be positive, got {args.top_k}')
    try:
        results = recognize(args)
    except InputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if args.out_json:
        from vtg_plugins.utils.io import atomic_write
        with atomic_write(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
        print(f'predictions: {args.out_json}')
    return 0
