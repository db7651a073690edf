"""Video decoding for feature extraction: fixed-fps sampling, short-side
resize and centre crop.

This reproduces the frames of the official R²-Tuning preprocessing
(yeliudev/R2-Tuning ``tools/extract_frames.py``), which runs the ffmpeg
filter chain ``fps={fps},scale={w}:{h},crop={size}:{size}:{x}:{y}`` and
stores ``uint8 [T, 3, size, size]`` per video:

* **sampling** — ffmpeg's ``fps`` filter (default ``round=near``,
  ``eof_action=round``): output frame ``n`` (time ``n / fps``) is the *last*
  decoded frame whose timestamp ``t`` rounds to an output slot
  ``round(t * fps) <= n`` (halfway cases away from zero), and the stream gives
  ``round(end * fps)`` output frames, ``end`` being the end time of the last
  frame. At 0.5 fps, clip ``n`` (``[2n, 2n + 2)`` s) is thus represented by
  the last frame before ``2n + 1`` s, i.e. (about) its middle frame.
  Timestamps are taken relative to the first frame.
* **resize** — the short side to ``size``, the long side to
  ``int(long * size / short)`` (truncated, as the official code computes it).
* **crop** — a ``size x size`` window at ``(int((w - size) / 2),
  int((h - size) / 2))``.

Decoding uses decord first and PyAV as the fallback; both decode to RGB at the
native size (they agree exactly on the same file), and the resize is done here
in torch, so the result does not depend on the decoder.

A video must decode to as many frames as the duration its file states
gives (``round(duration * fps)``): a truncated file (e.g. an mp4 whose
index is complete but whose data was cut) makes decord fail and PyAV stop
early, and is refused with :class:`ShortVideoError` naming the file and
both counts, unless ``allow_short=True`` (logged). The duration is the
video stream's (its header, or Matroska's ``DURATION`` tag), else the
container's, which counts every stream (an audio track may outlast the
video), so it is allowed ``CONTAINER_SLACK_S`` more slack than the one
source frame a stream duration gets.

Known difference from the official frames: ffmpeg scales the YUV planes with
swscale's bicubic filter before converting to RGB; we scale RGB with torch's
antialiased bicubic, which changes pixel values by a few grey levels.
"""
import logging
import os
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

PathLike = Union[str, os.PathLike]

#: decoders tried in order by ``backend='auto'``
DECODERS = ('decord', 'pyav')
#: how :func:`sample_frame_indices` picks frames (recorded in recipes)
SAMPLING = 'ffmpeg-fps-near'
#: how :func:`resize_center_crop` resizes (recorded in recipes)
RESIZE = 'short-side-bicubic-antialias'
# Slack for float timestamps: a frame exactly on a halfway point (e.g. t=1 s
# at 0.5 fps) must round up, as ffmpeg's integer arithmetic does.
_EPS = 1e-6
_RESIZE_CHUNK = 16
#: seconds the decoded frames may end before a duration that only the
#: container states (the longest of its streams)
CONTAINER_SLACK_S = 1.0


class VideoDecodeError(RuntimeError):
    """A video file that cannot be decoded (the message names the file)."""


class ShortVideoError(VideoDecodeError):
    """A video that decodes to fewer frames than its stated duration gives,
    e.g. a truncated file (the message names the file and both counts)."""


def _num_out(end: float, fps: float) -> int:
    """Frames ffmpeg's ``fps`` filter outputs for a stream ending at
    ``end`` s: ``round(end * fps)`` (halfway away from zero), at least 1."""
    return max(1, int(np.floor(end * fps + 0.5 + _EPS)))


def sample_frame_indices(times: np.ndarray, end: float,
                         fps: float) -> np.ndarray:
    """Indices of the frames ffmpeg's ``fps`` filter outputs.

    Args:
        times (np.ndarray): ``[N]`` presentation times (s) of the decoded
            frames, ascending, relative to the first frame (``times[0] = 0``).
        end (float): end time (s) of the last frame (its start + duration).
        fps (float): output frame rate.

    Returns:
        np.ndarray: ``[T]`` int64 frame indices, ``T = round(end * fps)``
        (at least 1); output ``n`` is the last frame with
        ``round(times * fps) <= n``.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) == 0:
        raise ValueError(f'times must be a non-empty 1-D array, got shape '
                         f'{times.shape}')
    if fps <= 0:
        raise ValueError(f'fps must be positive, got {fps}')
    slots = np.floor(times * fps + 0.5 + _EPS).astype(np.int64)
    num_out = _num_out(end, fps)
    idx = np.searchsorted(slots, np.arange(num_out), side='right') - 1
    return np.clip(idx, 0, None)


def resize_center_crop(frames: Union[np.ndarray, torch.Tensor],
                       size: int) -> torch.Tensor:
    """Resize the short side to ``size`` and crop the centre square.

    Args:
        frames: ``uint8 [N, H, W, 3]`` RGB frames.
        size (int): output side length.

    Returns:
        torch.Tensor: ``uint8 [N, 3, size, size]``.
    """
    frames = torch.as_tensor(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'frames must be [N, H, W, 3], got '
                         f'{tuple(frames.shape)}')
    h, w = frames.shape[1:3]
    if w > h:
        w, h = int(w * size / h), size
    else:
        w, h = size, int(h * size / w)
    x = frames.permute(0, 3, 1, 2).float()
    if (h, w) != tuple(x.shape[-2:]):
        x = F.interpolate(
            x,
            size=(h, w),
            mode='bicubic',
            antialias=True,
            align_corners=False)
    left, top = int((w - size) / 2), int((h - size) / 2)
    x = x[..., top:top + size, left:left + size]
    return x.round_().clamp_(0, 255).to(torch.uint8).contiguous()


def _decord_frames(path: str, fps: float) -> np.ndarray:
    import decord
    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    if len(vr) == 0:
        raise ValueError('no video frames')
    stamps = vr.get_frame_timestamp(np.arange(len(vr)))  # [N, (start, end)]
    idx = sample_frame_indices(stamps[:, 0] - stamps[0, 0],
                               stamps[-1, 1] - stamps[0, 0], fps)
    uniq, inverse = np.unique(idx, return_inverse=True)
    return vr.get_batch(uniq.tolist()).asnumpy()[inverse]


def _pyav_frames(path: str, fps: float) -> np.ndarray:
    import av
    with av.open(path) as container:
        stream = container.streams.video[0]
        # pass 1: presentation times from the packets, without decoding
        pts, durations = [], []
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
                durations.append(packet.duration or 0)
        if not pts:
            raise ValueError('no video packets with timestamps')
        order = np.argsort(pts, kind='stable')
        pts = np.asarray(pts, dtype=np.int64)[order]
        base = float(stream.time_base)
        times = (pts - pts[0]) * base
        last = durations[order[-1]] * base
        if last <= 0 and stream.average_rate:
            last = 1.0 / float(stream.average_rate)
        idx = sample_frame_indices(times, times[-1] + last, fps)
    # pass 2: decode, keep the frames at the sampled positions
    wanted = {int(pts[i]): i for i in np.unique(idx)}
    decoded = {}
    with av.open(path) as container:
        for frame in container.decode(container.streams.video[0]):
            i = wanted.get(frame.pts)
            if i is not None:
                decoded[i] = frame.to_ndarray(format='rgb24')
                if len(decoded) == len(wanted):
                    break
    missing = sorted(set(wanted.values()) - set(decoded))
    if missing:
        raise ValueError(f'frames {missing[:5]} were not decoded')
    return np.stack([decoded[i] for i in idx])


_READERS = {'decord': _decord_frames, 'pyav': _pyav_frames}


def _parse_clock(text: str) -> float:
    """``'HH:MM:SS.fraction'`` (Matroska's ``DURATION`` tag) -> seconds."""
    hours, minutes, seconds = text.strip().split(':')
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def stated_duration(path: PathLike) -> Optional[Tuple[float, float, str]]:
    """The video duration a file states, read from its headers (nothing is
    decoded).

    Returns:
        tuple | None: ``(seconds, slack_s, source)``: the duration of the
        first video stream (its header, or its Matroska / WebM ``DURATION``
        tag; slack one source frame) or else the container's (slack
        ``CONTAINER_SLACK_S`` more, as it spans every stream); None when
        the file states none.
    """
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame_s = 1 / float(stream.average_rate) if stream.average_rate else 0
        if stream.duration:
            return (float(stream.duration * stream.time_base), frame_s,
                    'video stream')
        tag = stream.metadata.get('DURATION')
        if tag:
            return _parse_clock(tag), frame_s, 'video stream tag'
        if container.duration:
            return (container.duration / av.time_base,
                    frame_s + CONTAINER_SLACK_S, 'container')
    return None


def _frames_expected(path: str, fps: float) -> Tuple[int, int, str]:
    """``(fewest accepted, expected, what states it)`` frame counts of
    ``path`` at ``fps``, from its stated duration (``(0, 0, ...)`` when it
    states none, e.g. a raw stream)."""
    try:
        stated = stated_duration(path)
    except Exception as e:  # PyAV raises many types on bad headers
        raise VideoDecodeError(f'cannot read the duration of video {path} '
                               f'({type(e).__name__}: {e})') from None
    if stated is None:
        return 0, 0, 'nothing'
    duration, slack, source = stated
    return (_num_out(duration - slack, fps), _num_out(duration, fps),
            f'the duration its {source} states ({duration:.3f} s)')


def decode_frames(path: PathLike,
                  fps: float,
                  backend: str = 'auto',
                  allow_short: bool = False) -> Tuple[np.ndarray, str]:
    """Decode the frames of ``path`` sampled at ``fps``, at native size.

    Args:
        path: the video file.
        fps (float): sampling rate (see :func:`sample_frame_indices`).
        backend (str): ``'decord'``, ``'pyav'`` or ``'auto'`` (decord, then
            PyAV if decord is missing, fails on the file or gives too few
            frames).
        allow_short (bool): accept a video that decodes to fewer frames
            than its stated duration gives (``round((duration - slack) *
            fps)``, see :func:`stated_duration`), logging both counts; the
            decoder that gave the most frames is used.

    Returns:
        tuple: ``uint8 [T, H, W, 3]`` RGB frames and the decoder used.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ShortVideoError: every decoder that read it gave too few frames
            (e.g. a truncated file) and ``allow_short`` is False; names the
            file and the frames decoded and expected.
        VideoDecodeError: no decoder could read it (names the file and each
            decoder's error).
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'video file {path} does not exist')
    names = DECODERS if backend == 'auto' else (backend, )
    errors, short, expected = [], [], None
    for name in names:
        if name not in _READERS:
            raise ValueError(f'unknown video backend {name!r}, expected one '
                             f"of {DECODERS} or 'auto'")
        try:
            frames = _READERS[name](path, fps)
        except ImportError as e:
            errors.append(f'{name}: not installed ({e})')
            continue
        except Exception as e:  # decoders raise many types on bad files
            errors.append(f'{name}: {type(e).__name__}: {e}')
            continue
        expected = expected or _frames_expected(path, fps)
        if len(frames) >= expected[0]:
            return frames, name
        short.append((len(frames), name, frames))
        errors.append(f'{name}: {len(frames)} frames')
    if not short:
        raise VideoDecodeError(f'cannot decode video {path}: ' +
                               '; '.join(errors))
    count, name, frames = max(short, key=lambda item: item[0])
    what = (f'{path}: decoded {count} of the {expected[1]} frames expected '
            f'at {fps:g} fps from {expected[2]} ({"; ".join(errors)})')
    if not allow_short:
        raise ShortVideoError(
            f'{what}: the file looks truncated; re-encode or re-download '
            'it, or accept the frames it has with allow_short=True '
            '(--allow-short)')
    print_log(
        f'{what}: short video accepted (allow_short), {count} frames from '
        f'{name}',
        logger='current',
        level=logging.WARNING)
    return frames, name


def read_video(path: PathLike,
               fps: float,
               size: int = 224,
               backend: str = 'auto',
               allow_short: bool = False) -> torch.Tensor:
    """Frames of a video as the official R²-Tuning frame extraction makes
    them (see the module doc).

    Args:
        path: the video file.
        fps (float): frames per second to sample (0.5 for QVHighlights).
        size (int): side of the square crop (224; 336 for ViT-L/14-336).
        backend (str): see :func:`decode_frames`.
        allow_short (bool): accept a truncated video, see
            :func:`decode_frames`.

    Returns:
        torch.Tensor: ``uint8 [T, 3, size, size]``.

    Raises:
        VideoDecodeError: as :func:`decode_frames` (``ShortVideoError`` for
            a truncated video).
    """
    frames, _ = decode_frames(path, fps, backend, allow_short)
    # in chunks: the float copy of full-HD frames is 25 MB each
    return torch.cat([
        resize_center_crop(frames[i:i + _RESIZE_CHUNK], size)
        for i in range(0, len(frames), _RESIZE_CHUNK)
    ])


def find_videos(video_dir: PathLike,
                exts: Sequence[str] = ('mp4', 'mkv', 'avi', 'webm', 'mov'),
                vids: Optional[Sequence[str]] = None) -> dict:
    """Map video id (file stem) to path for the videos in ``video_dir``.

    Args:
        video_dir: directory searched (not recursively).
        exts (Sequence[str]): accepted extensions (case-insensitive).
        vids (Sequence[str], optional): keep only these ids.

    Raises:
        ValueError: two files share a stem (e.g. ``a.mp4`` and ``a.mkv``).
    """
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise NotADirectoryError(f'video directory {video_dir} does not '
                                 'exist')
    exts = {e.lower().lstrip('.') for e in exts}
    keep = None if vids is None else set(vids)
    found = {}
    for path in sorted(video_dir.iterdir()):
        if path.suffix.lower().lstrip('.') not in exts or \
                path.name.startswith('.'):
            continue
        if keep is not None and path.stem not in keep:
            continue
        if path.stem in found:
            raise ValueError(f'two videos with id {path.stem!r}: '
                             f'{found[path.stem]} and {path}')
        found[path.stem] = path
    return found
