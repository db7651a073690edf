"""Extract frames at a fixed frame rate, short side resized, centre-cropped.

    python tools/data/extract_frames.py VIDEO_DIR [--frame-dir DIR] \
        [--fps 0.5] [--size 224] [--workers 4] [--backend auto] \
        [--allow-short]

Writes ``FRAME_DIR/{vid}.npy`` = ``uint8 [T, 3, size, size]`` per video, the
layout of the official R²-Tuning ``tools/extract_frames.py``
(yeliudev/R2-Tuning), and ``FRAME_DIR/meta.json`` with the frame recipe
(fps, crop, sampling and resize rules; see :mod:`vtg_plugins.features.frames`).
The default ``FRAME_DIR`` is ``frames_{size}_{fps}fps`` beside ``VIDEO_DIR``,
as in the official tool. QVHighlights, Ego4D-NLQ, TACoS and TVSum use 0.5 fps,
Charades-STA 1.0 fps.

Resumable: videos whose ``.npy`` exists are skipped, and every file is written
atomically (temporary name + rename), so an interrupted run leaves no partial
file. A frame directory made with another recipe is refused. Videos that
cannot be decoded, and videos that decode to fewer frames than their stated
duration gives (a truncated file; ``--allow-short`` keeps the frames they
have and logs both counts), are reported and skipped; the run then lists
them and exits with status 1.
"""
import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import List, Optional, Tuple

from mmengine.utils import ProgressBar

from vtg_plugins.datasets.feature_stores import META_FILE, read_meta
from vtg_plugins.features.frames import DECODERS, find_videos, read_video
from vtg_plugins.features.recipe import FeatureRecipe
from vtg_plugins.utils.io import atomic_save_npy, atomic_write_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Extract fixed-fps, centre-cropped frames from videos.')
    parser.add_argument('video_dir', help='directory of video files')
    parser.add_argument(
        '--frame-dir',
        help='output directory (default: frames_{size}_{fps}fps beside '
        'VIDEO_DIR)')
    parser.add_argument(
        '--fps', type=float, default=0.5, help='frames per second (0.5)')
    parser.add_argument(
        '--size',
        type=int,
        default=224,
        help='short side and crop size (224; 336 for ViT-L/14-336px)')
    parser.add_argument(
        '--ext',
        nargs='+',
        default=['mp4', 'mkv', 'avi', 'webm', 'mov'],
        help='video file extensions')
    parser.add_argument(
        '--backend',
        default='auto',
        choices=('auto', ) + DECODERS,
        help='video decoder (auto: decord, then PyAV)')
    parser.add_argument(
        '--workers', type=int, default=4, help='decoding processes')
    parser.add_argument(
        '--allow-short',
        action='store_true',
        help='keep the frames of a video that decodes to fewer frames than '
        'its stated duration gives (a truncated file; logged) instead of '
        'failing it')
    return parser.parse_args(argv)


def _init_worker():
    import torch
    torch.set_num_threads(1)


def _extract(
    task: Tuple[str, str, str, float, int, str, bool]
) -> Tuple[str, Optional[str]]:
    """Decode one video into its ``.npy``; return (vid, error or None)."""
    vid, video, out, fps, size, backend, allow_short = task
    try:
        frames = read_video(video, fps, size, backend, allow_short).numpy()
        atomic_save_npy(Path(out), frames)
    except Exception as e:  # reported per video, the run goes on
        return vid, f'{type(e).__name__}: {e}'
    return vid, None


def _check_meta(frame_dir: Path, meta: dict) -> None:
    old = read_meta(frame_dir)
    if old and old != meta:
        raise ValueError(f'{frame_dir} holds frames of another recipe:\n'
                         f'  existing:  {json.dumps(old, sort_keys=True)}\n'
                         f'  requested: {json.dumps(meta, sort_keys=True)}\n'
                         'choose another --frame-dir')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    video_dir = Path(args.video_dir)
    frame_dir = Path(args.frame_dir) if args.frame_dir else (
        video_dir.resolve().parent / f'frames_{args.size}_{args.fps}fps')
    videos = find_videos(video_dir, args.ext)
    meta = FeatureRecipe(fps=args.fps, crop=args.size).frame_meta()
    frame_dir.mkdir(parents=True, exist_ok=True)
    _check_meta(frame_dir, meta)
    atomic_write_json(frame_dir / META_FILE, meta)

    tasks = [(vid, str(path), str(frame_dir / f'{vid}.npy'), args.fps,
              args.size, args.backend, args.allow_short)
             for vid, path in videos.items()
             if not (frame_dir / f'{vid}.npy').exists()]
    print(f'{video_dir} -> {frame_dir}: {len(videos)} videos, '
          f'{len(videos) - len(tasks)} already done, {len(tasks)} to extract')
    failures = []
    if tasks:
        bar = ProgressBar(len(tasks))
        if args.workers > 1:
            with Pool(min(args.workers, len(tasks)), _init_worker) as pool:
                results = list(
                    _track(pool.imap_unordered(_extract, tasks), bar))
        else:
            results = list(_track(map(_extract, tasks), bar))
        failures = sorted((vid, err) for vid, err in results if err)
        print()
    if failures:
        print(
            f'{len(failures)} of {len(videos)} videos failed:',
            file=sys.stderr)
        for vid, err in failures:
            print(f'  {videos[vid]}: {err}', file=sys.stderr)
        return 1
    print(f'done: {len(videos)} videos in {frame_dir}')
    return 0


def _track(results, bar: ProgressBar):
    for res in results:
        if res[1]:
            print(f'\nfailed: {res[0]}: {res[1]}', file=sys.stderr)
        bar.update()
        yield res


if __name__ == '__main__':
    sys.exit(main())
