"""``vtg predict``: the moments of free-text queries in a video with any
grounding model (R²-Tuning, GroundNLQ, the CLIP zero-shot baseline, ...)
through :class:`vtg_plugins.apis.MomentRetrievalInferencer`.

``tools/demo/moment_retrieval.py`` is the same command with the config and
checkpoint as options; both build on :func:`add_prediction_options` and
:func:`run_prediction`.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

from ._command import command_parser

SUMMARY = ('moments (and saliency) of text queries in a video or a feature '
           'file, with any grounding model; prints them, writes the plot')
EXAMPLE = """
vtg predict work_dirs/r2_tuning_demo/demo_model.py \
work_dirs/r2_tuning_demo/demo_model.pth \
work_dirs/r2_tuning_demo/videos/demo_video.mp4 "a red thing" "green" \
--clip-checkpoint work_dirs/r2_tuning_demo/demo_clip.pt --out-plot moments.png
"""


def add_prediction_options(parser: argparse.ArgumentParser) -> None:
    """The options of a prediction, after its positional arguments."""
    parser.add_argument(
        '--clip-checkpoint',
        help='local CLIP weights of the feature recipes (never downloaded); '
        'without it CLIP is randomly initialised')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--duration', type=float, help='video duration in seconds')
    parser.add_argument(
        '--max-clips',
        type=int,
        help='longest clip sequence run at once (default: the model\'s '
        'max_input_clips); longer videos run as overlapping sliding windows')
    parser.add_argument(
        '--out-plot',
        help='PNG of saliency and moments (several queries: '
        'STEM_q0.png, STEM_q1.png, ...)')
    parser.add_argument('--out-json', help='predictions as a JSON list')
    parser.add_argument(
        '--gt',
        nargs='+',
        type=float,
        metavar='SEC',
        help='ground-truth windows START END [START END ...] (one query)')
    parser.add_argument(
        '--top-k', type=int, default=3, help='windows printed and drawn')


def check_prediction_args(parser: argparse.ArgumentParser,
                          args: argparse.Namespace) -> None:
    """Refuse option combinations :func:`run_prediction` cannot honour."""
    if args.gt is not None:
        if len(args.gt) % 2:
            parser.error('--gt takes START END pairs')
        if len(args.queries) != 1:
            parser.error('--gt belongs to one query; give a single QUERY')


def plot_paths(out_plot: str, num_queries: int) -> List[str]:
    """``out_plot`` itself for one query, else ``{stem}_q{i}{ext}``."""
    if num_queries == 1:
        return [out_plot]
    stem, ext = osp.splitext(out_plot)
    return [f'{stem}_q{i}{ext or ".png"}' for i in range(num_queries)]


def run_prediction(args: argparse.Namespace) -> int:
    """Predict ``args.queries`` in ``args.video`` with ``args.config`` /
    ``args.checkpoint``; print the top windows, write the plots and the
    JSON. Returns the exit status (1 with ``error: ...`` on bad input)."""
    import numpy as np

    from vtg_plugins.apis import MomentRetrievalInferencer, plot_moments
    from vtg_plugins.features.frames import VideoDecodeError
    from vtg_plugins.utils.io import atomic_write
    try:
        checkpoint = None if args.checkpoint.lower() == 'none' \
            else args.checkpoint
        inferencer = MomentRetrievalInferencer(
            args.config,
            checkpoint,
            device=args.device,
            clip_checkpoint=args.clip_checkpoint,
            max_clips=args.max_clips)
        preds = inferencer(args.video, args.queries, duration=args.duration)
    except (FileNotFoundError, VideoDecodeError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1

    gt = None if args.gt is None else np.reshape(args.gt, (-1, 2)).tolist()
    plots = plot_paths(args.out_plot, len(preds)) if args.out_plot else []
    for i, pred in enumerate(preds):
        print(f"query {i}: {pred['query']!r} ({pred['duration']:.1f} s)")
        for rank, (start, end, score) in enumerate(
                pred['pred_relevant_windows'][:args.top_k]):
            print(f'  #{rank + 1}: {start:.1f}-{end:.1f} s  score '
                  f'{score:.3f}')
        if plots:
            plot_moments(
                plots[i],
                pred.get('pred_saliency_scores'),
                inferencer.clip_len,
                pred['pred_relevant_windows'],
                gt_windows=gt,
                query=pred['query'],
                duration=pred['duration'],
                top_k=args.top_k)
            print(f'  plot: {plots[i]}')
    if args.out_json:
        with atomic_write(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(preds, f, indent=1)
        print(f'predictions: {args.out_json}')
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser('predict', SUMMARY, EXAMPLE)
    parser.add_argument('config', help='model config')
    parser.add_argument(
        'checkpoint',
        help='model checkpoint (path or URL); none for a model without '
        'trained weights (the CLIP zero-shot baseline)')
    parser.add_argument(
        'video', help='video file, or feature file (.npy / .npz / .pt)')
    parser.add_argument('queries', nargs='+', metavar='QUERY')
    add_prediction_options(parser)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_prediction_args(parser, args)
    return run_prediction(args)
