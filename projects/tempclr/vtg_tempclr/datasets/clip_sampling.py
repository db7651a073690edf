"""MMPT's clip samplers for HowTo100M pre-training, as pure functions.

A clip pairs a run of consecutive captions ``[text_start, text_end)`` with a
video window ``[video_start, video_end)`` of feature steps (one per second).

- :func:`grow_caption_run` (MMPT ``TextClipSamplingProcessor``): from a
  centre caption, add a neighbour at a time (right when a draw exceeds 0.5
  and there is one, else left, else right) while the run holds fewer than
  ``max_tokens`` tokens and spans under 256 s.
- :func:`grow_video_window` (``VideoClipSamplingProcessor``): from an empty
  window at ``center``, add one step at a time (a random side while both
  sides are free) up to ``max_frames`` steps or the whole video.
- :func:`sample_overlapped_clip` (``OverlappedAligner``, training): the video
  window grows around a random step of the caption run's time span, with a
  random length in ``video_frames``; it overlaps the captions but need not
  match them.
- :func:`sample_aligned_clip` (``VariedLenAligner``, the retrieval pass): the
  video window is the caption run's span, rounded out and clipped to the
  video.

Each function takes the random source explicitly and makes its draws in the
official order, so a source seeded like python's ``random`` in MMPT gives
the same clips. The official text sampler also draws, before each step, a
"skip a caption" decision that never fires at its ``keep_prob = 1``; we make
that draw too (and ignore it) to keep the stream aligned.
"""
import math
from typing import List, NamedTuple, Protocol, Sequence, Tuple

#: seconds; the official text sampler's fixed bound on a run's time span
MAX_CAPTION_SPAN = 256


class RandomSource(Protocol):
    """What the samplers draw from: a ``random.Random`` or the ``random``
    module itself (python's global generator, as MMPT uses)."""

    def random(self) -> float:
        ...

    def randint(self, a: int, b: int) -> int:
        ...


class Captions(NamedTuple):
    """The captions of one video, in time order.

    Attributes:
        starts (Sequence[float]): ``[n]`` start times in seconds.
        ends (Sequence[float]): ``[n]`` end times in seconds.
        num_tokens (Sequence[int]): ``[n]`` WordPiece tokens per caption.
    """
    starts: Sequence[float]
    ends: Sequence[float]
    num_tokens: Sequence[int]


class ClipWindow(NamedTuple):
    """Captions ``[text_start, text_end)`` and steps ``[video_start,
    video_end)`` of one clip."""
    text_start: int
    text_end: int
    video_start: int
    video_end: int


def grow_caption_run(captions: Captions,
                     center: int,
                     max_tokens: int,
                     rng: RandomSource,
                     max_span: float = MAX_CAPTION_SPAN) -> Tuple[int, int]:
    """Captions ``[first, stop)`` around ``center`` (see module doc).

    A centre caption that alone reaches ``max_tokens`` stays alone; a video
    with one caption gives ``(0, 1)``; neither draws.
    """
    count = len(captions.starts)
    if not 0 <= center < count:
        raise ValueError(f'centre caption {center} outside [0, {count})')
    first, stop = center, center + 1
    tokens = captions.num_tokens[center]
    span = max(0, captions.ends[center] - captions.starts[center])
    while (first > 0 or stop < count) and tokens < max_tokens \
            and span < max_span:
        grow_right = rng.random() > 0.5 and stop < count
        rng.random()  # the official skip draw (never taken at keep_prob 1)
        if grow_right or first == 0:  # first == 0 implies stop < count
            tokens += captions.num_tokens[stop]
            stop += 1
        else:
            first -= 1
            tokens += captions.num_tokens[first]
        span = max(0, captions.ends[stop - 1] - captions.starts[first])
    return first, stop


def grow_video_window(num_frames: int, max_frames: int, center: int,
                      rng: RandomSource) -> Tuple[int, int]:
    """Steps ``[start, end)`` grown from ``center`` (see module doc); its
    length is ``min(max_frames, num_frames)``."""
    if not 0 <= center < num_frames:
        raise ValueError(f'window centre {center} outside the video '
                         f'[0, {num_frames})')
    start = end = center
    length = 0
    while (start > 0 or end < num_frames) and length < max_frames:
        if start <= 0:
            end += 1
        elif end >= num_frames:
            start -= 1
        elif rng.random() > 0.5:
            end += 1
        else:
            start -= 1
        length += 1
    return start, end


def _caption_run(captions: Captions, rng: RandomSource,
                 text_tokens: Tuple[int, int]) -> Tuple[int, int]:
    """A random centre caption and token budget, then the run around it."""
    center = rng.randint(0, len(captions.starts) - 1)
    max_tokens = rng.randint(*text_tokens)
    return grow_caption_run(captions, center, max_tokens, rng)


def sample_overlapped_clip(
    captions: Captions,
    num_frames: int,
    rng: RandomSource,
    text_tokens: Tuple[int, int] = (8, 64),
    video_frames: Tuple[int, int] = (3, 32)
) -> ClipWindow:
    """One training clip of MMPT's ``OverlappedAligner``.

    Args:
        captions (Captions): the video's captions (at least one).
        num_frames (int): feature steps of the video ``T >= 1``.
        rng (RandomSource): random source.
        text_tokens (tuple): inclusive range of the token budget
            (``sampled_min_len``, ``sampled_max_len``).
        video_frames (tuple): inclusive range of the window length
            (``sampled_video_min_len``, ``sampled_video_max_len``).
    """
    first, stop = _caption_run(captions, rng, text_tokens)
    low = math.floor(captions.starts[first])
    high = math.ceil(captions.ends[stop - 1])
    center = rng.randint(low, high) if low < high else int((low + high) // 2)
    center = max(0, min(num_frames - 1, center))
    start, end = grow_video_window(num_frames, rng.randint(*video_frames),
                                   center, rng)
    return ClipWindow(first, stop, start, end)


def sample_aligned_clip(
    captions: Captions,
    num_frames: int,
    rng: RandomSource,
    text_tokens: Tuple[int, int] = (8, 64)) -> ClipWindow:
    """One clip of MMPT's ``VariedLenAligner``: the video window is
    ``[floor(start of the first caption), ceil(end of the last))`` clipped to
    ``[0, num_frames]`` (possibly empty)."""
    first, stop = _caption_run(captions, rng, text_tokens)
    video_end = min(math.ceil(captions.ends[stop - 1]), num_frames)
    video_start = max(min(math.floor(captions.starts[first]), video_end), 0)
    return ClipWindow(first, stop, video_start, video_end)


def sort_clips(clips: Sequence[ClipWindow]) -> List[ClipWindow]:
    """The clips of a video in MMPT's order: by text start, video start,
    text end, video end."""
    return sorted(
        clips,
        key=lambda c: (c.text_start, c.video_start, c.text_end, c.video_end))
