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
``x_q0.png``, ``x_q1.png``, ... The same command as ``vtg predict CONFIG CKPT
VIDEO QUERY ...`` (:mod:`vtg_plugins.cli.predict`).
"""
import argparse
import sys
from typing import List, Optional

from vtg_plugins.cli.predict import (add_prediction_options,
                                     check_prediction_args, run_prediction)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Moment retrieval demo: moments of queries in a video.')
    parser.add_argument(
        'video', help='video file, or feature file (.npy / .npz / .pt)')
    parser.add_argument('queries', nargs='+', metavar='QUERY')
    parser.add_argument('--config', required=True, help='model config')
    parser.add_argument(
        '--checkpoint', required=True, help='model checkpoint (path or URL)')
    add_prediction_options(parser)
    args = parser.parse_args(argv)
    check_prediction_args(parser, args)
    return args


def main(argv: Optional[List[str]] = None) -> int:
    return run_prediction(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
