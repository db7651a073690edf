"""Find the moments of free-text queries in a video with a trained grounding
model (any config: R²-Tuning, GroundNLQ, ...).

    python tools/demo/moment_retrieval.py VIDEO QUERY [QUERY ...] \
        --config CFG --checkpoint CKPT [--clip-checkpoint CLIP.pt] \
        [--device cpu] [--duration SEC] [--max-clips N] \
        [--out-plot x.png] [--out-json preds.json] [--gt START END ...]

``VIDEO`` is a video file, decoded and encoded with the feature recipe the
checkpoint was trained on (models whose video features are CLIP's, e.g.
R²-Tuning), or a feature file (``.npy`` / ``.npz`` / ``.pt``, ``[T, ...]``)
of a feature store whose ``meta.json`` is checked against that recipe (any
model, e.g. GroundNLQ on InternVideo + EgoVLP features); see
:class:`vtg_plugins.apis.MomentRetrievalInferencer`. The queries are
encoded with the config's query recipe (``--clip-checkpoint``: its CLIP
weights). Prints the top windows of every query; ``--out-json`` writes the
predictions (QVHighlights fields), ``--out-plot`` draws the saliency curve
(for models with saliency), the top predicted windows and the ``--gt``
windows (one query only). With several queries the plots are
``x_q0.png``, ``x_q1.png``, ...
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

from vtg_plugins.apis import MomentRetrievalInferencer, plot_moments
from vtg_plugins.features.frames import VideoDecodeError
from vtg_plugins.utils.io import atomic_write


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Moment retrieval demo: moments of queries in a video.')
    parser.add_argument(
        'video', help='video file, or feature file (.npy / .npz / .pt)')
    parser.add_argument('queries', nargs='+', metavar='QUERY')
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument(
        '--checkpoint', required=True, help='model checkpoint (path or URL)')
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
    parser.add_argument('--out-plot', help='PNG of saliency and moments')
    parser.add_argument('--out-json', help='predictions as a JSON list')
    parser.add_argument(
        '--gt',
        nargs='+',
        type=float,
        metavar='SEC',
        help='ground-truth windows START END [START END ...] (one query)')
    parser.add_argument(
        '--top-k', type=int, default=3, help='windows printed and drawn')
    args = parser.parse_args(argv)
    if args.gt is not None:
        if len(args.gt) % 2:
            parser.error('--gt takes START END pairs')
        if len(args.queries) != 1:
            parser.error('--gt belongs to one query; give a single QUERY')
    return args


def plot_paths(out_plot: str, num_queries: int) -> List[str]:
    """``out_plot`` itself for one query, else ``{stem}_q{i}{ext}``."""
    if num_queries == 1:
        return [out_plot]
    stem, ext = osp.splitext(out_plot)
    return [f'{stem}_q{i}{ext or ".png"}' for i in range(num_queries)]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        inferencer = MomentRetrievalInferencer(
            args.config,
            args.checkpoint,
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


if __name__ == '__main__':
    sys.exit(main())
