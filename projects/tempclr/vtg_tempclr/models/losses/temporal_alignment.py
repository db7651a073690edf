"""Sentence-order contrast of TempCLR's HowTo100M pretraining (official
``AlignRetriTask.temporal_alignment``).

The batch is small and its matrices tiny (``5 x 5``), so the cost is
per-call overhead, not arithmetic: the clip selection runs in plain Python
on values fetched once, the candidate orders become one numpy array, the
distances of all kept videos are one batched product
(:func:`..alignment.row_cosine_distances`), and every candidate of every
video is aligned in one call that gathers them from those distances
(:func:`..alignment.gathered_alignment_cost`).
"""
import functools
import itertools
import math
import random
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vtg_plugins.registry import MODELS

from ..alignment import gathered_alignment_cost, row_cosine_distances
from .utils import check_metric, linspace_positions, zero_with_grad

#: ``(num_units) -> candidate orders of range(num_units), in trial order``
PermutationSource = Callable[[int], Iterable[Sequence[int]]]


def shuffled_permutations(num_units: int) -> List[tuple]:
    """All orders of ``range(num_units)``, shuffled with Python's global
    ``random`` (the official candidate list; its size is
    ``num_units!``)."""
    orders = list(itertools.permutations(range(num_units)))
    random.shuffle(orders)
    return orders


def non_overlapping_clips(text_start: Sequence,
                          text_end: Sequence,
                          video_start: Sequence,
                          video_end: Sequence,
                          first: int = 0,
                          stop: Optional[int] = None) -> List[int]:
    """Greedy left-to-right selection of clips that overlap no kept clip:
    clip ``i`` is kept when it starts after the last kept clip's end, in
    text and in video (official ``nonoverlapped_indices``).

    Args:
        text_start, text_end, video_start, video_end: one value per clip.
        first, stop: the clips ``first .. stop - 1`` (default: all) are one
            video's.

    Returns:
        The kept clip positions, ascending.
    """
    kept, last_text_end, last_video_end = [], -1, -1
    for i in range(first, len(text_start) if stop is None else stop):
        if text_start[i] > last_text_end and video_start[i] > last_video_end:
            kept.append(i)
            last_text_end, last_video_end = text_end[i], video_end[i]
    return kept


class _OrderBook:
    """The orders of ``range(size)`` met so far, each checked once and
    numbered, so that a batch of orders becomes an array by dictionary
    look-ups (a fraction of the cost of converting every number).

    Args:
        size: ``T``.
        capacity: the book starts over when it holds this many orders.
    """

    def __init__(self, size: int, capacity: int = 1 << 16) -> None:
        self.size, self.capacity = size, capacity
        self._numbers, self._orders = {}, []
        self._table = np.empty((0, size), np.int64)

    def array(self, orders: List[Sequence[int]]) -> np.ndarray:
        """``[len(orders), T]`` int64; an error naming the first order that
        is not one of ``range(T)``."""
        try:
            numbers = list(map(self._numbers.get, orders))
        except TypeError:  # unhashable (lists): look them up as tuples
            orders = list(map(tuple, orders))
            numbers = list(map(self._numbers.get, orders))
        if None in numbers:
            if len(self._orders) + len(orders) > self.capacity:
                self._numbers, self._orders = {}, []
                numbers = [None] * len(orders)
            for i, order in enumerate(orders):
                if numbers[i] is None:
                    numbers[i] = self._add(order)
            self._table = np.array(self._orders,
                                   np.int64).reshape(-1, self.size)
        return self._table.take(np.array(numbers, np.int64), 0)

    def _add(self, order: Sequence[int]) -> int:
        key = tuple(order)
        if key not in self._numbers:
            if sorted(key) != list(range(self.size)):
                raise ValueError(f'TemporalAlignmentLoss: permutation_source '
                                 f'gave {list(order)}, not an order of '
                                 f'range({self.size})')
            self._numbers[key] = len(self._orders)
            self._orders.append(key)
        return self._numbers[key]


@functools.lru_cache(maxsize=None)
def _order_book(size: int) -> _OrderBook:
    """The process's :class:`_OrderBook` of ``range(size)`` (shared by the
    loss modules, which are often rebuilt)."""
    return _OrderBook(size)


def candidate_grids(orders: np.ndarray) -> np.ndarray:
    """Where the candidates' cells lie in the flattened ``[V, T, T]``
    distances (sentences as rows): candidate ``(v, s)`` re-orders the
    sentences of video ``v`` by ``orders[v, s]`` and is aligned with the
    clips as rows, as the official rearrange does.

    Args:
        orders: ``[V, S, T]`` int64.

    Returns:
        ``[T, T, V * S]`` (the layout of
        :func:`..alignment.gathered_alignment_cost`): ``[i, j, v * S + s] =
        (v * T + orders[v, s, j]) * T + i`` for clip ``i``, sentence slot
        ``j``.
    """
    videos, size, units = orders.shape
    rows = orders + (np.arange(videos) * units)[:, None, None]
    columns = rows.reshape(videos * size, units).T * units  # [T(slots), B]
    return columns + np.arange(units)[:, None, None]


@MODELS.register_module()
class TemporalAlignmentLoss(nn.Module):
    """Contrast the true sentence order of a video against shuffled ones.

    The ``N`` rows are ``N / clip_per_video`` videos of consecutive clips
    (a text row and a video row each). Per video: keep the clips that
    overlap no earlier kept clip (:func:`non_overlapping_clips`); a video
    with fewer than ``sampling_threshold`` of them is left out; otherwise
    ``sampling_threshold`` of them are picked (:func:`linspace_positions`).
    Their distances ``1 - cos_eps(text_i, video_j)`` form a ``T x T``
    matrix; the candidates are it and ``total_sample_size - 1`` copies with
    the sentence rows re-ordered (the first non-identity orders given by
    ``permutation_source``). Each candidate is aligned with the soft-min
    DTW or OTAM (both directions summed) over the transposed matrix (video
    clips as rows, sentences as columns, as the official rearrange does);
    the loss is the cross-entropy of ``-cost`` towards the true order,
    summed over the kept videos and divided by their count.

    Args:
        metric: ``'dtw'`` or ``'otam'``.
        clip_per_video: rows per video.
        sampling_threshold: clips per kept video (``T``).
        total_sample_size: candidates per video (the true order + negatives).
        lbda: soft-min temperature.
        eps: added to the cosine denominator.
        permutation_source: ``(T) -> orders of range(T)`` in trial order,
            called once per kept video; default :func:`shuffled_permutations`
            (the official list, shuffled with Python's ``random``).
    """

    def __init__(
            self,
            metric: str = 'dtw',
            clip_per_video: int = 16,
            sampling_threshold: int = 5,
            total_sample_size: int = 32,
            lbda: float = 0.1,
            eps: float = 0.01,
            permutation_source: Optional[PermutationSource] = None) -> None:
        super().__init__()
        check_metric(metric, lbda, 'TemporalAlignmentLoss')
        if not 1 <= sampling_threshold <= clip_per_video:
            raise ValueError(
                'TemporalAlignmentLoss: sampling_threshold must be in [1, '
                f'clip_per_video={clip_per_video}], got {sampling_threshold}')
        if total_sample_size < 2:
            raise ValueError('TemporalAlignmentLoss: total_sample_size must '
                             f'be >= 2 (the true order and a negative), got '
                             f'{total_sample_size}')
        available = math.factorial(sampling_threshold) - 1
        if total_sample_size - 1 > available:
            raise ValueError(
                f'TemporalAlignmentLoss: total_sample_size={total_sample_size}'
                f' needs {total_sample_size - 1} negative orders, but '
                f'sampling_threshold={sampling_threshold} clips have only '
                f'{available} non-identity orders')
        self.metric = metric
        self.clip_per_video = clip_per_video
        self.sampling_threshold = sampling_threshold
        self.total_sample_size = total_sample_size
        self.lbda = lbda
        self.eps = eps
        self.permutation_source = permutation_source or shuffled_permutations

    def selected_rows(self, text_start: torch.Tensor, text_end: torch.Tensor,
                      video_start: torch.Tensor,
                      video_end: torch.Tensor) -> List[List[int]]:
        """Rows of the ``sampling_threshold`` clips picked in each kept
        video (videos left out have no entry).

        Args:
            text_start, text_end, video_start, video_end: ``[N]``.

        Returns:
            One list of ``T`` row indices (into the ``N`` rows) per kept
            video, in video order.
        """
        bounds = [
            t.tolist() for t in (text_start, text_end, video_start, video_end)
        ]
        per, size = self.clip_per_video, self.sampling_threshold
        selected = []
        for first in range(0, len(bounds[0]), per):
            clips = non_overlapping_clips(*bounds, first, first + per)
            if len(clips) >= size:
                selected.append(
                    [clips[p] for p in linspace_positions(len(clips), size)])
        return selected

    def candidate_orders(self, num_videos: int) -> np.ndarray:
        """Per video, the identity and the first ``total_sample_size - 1``
        non-identity orders (tuples or lists) of one call of
        ``permutation_source(T)``.

        Args:
            num_videos: how many videos (source calls).

        Returns:
            ``[num_videos, total_sample_size, T]`` int64.
        """
        size, needed = self.sampling_threshold, self.total_sample_size - 1
        book = _order_book(size)
        identity = tuple(range(size))
        negatives = []
        for _ in range(num_videos):
            source = iter(self.permutation_source(size))
            # the common case in bulk: no identity among the first orders
            taken = list(itertools.islice(source, needed))
            if identity in taken or list(identity) in taken:
                taken = [o for o in taken if tuple(o) != identity]
            while len(taken) < needed:
                order = next(source, None)
                if order is None:
                    book.array(taken)  # a bad order is the first error
                    raise ValueError(
                        f'TemporalAlignmentLoss: permutation_source({size}) '
                        f'gave only {len(taken)} non-identity orders; '
                        f'total_sample_size={self.total_sample_size} needs '
                        f'{needed}')
                if tuple(order) != identity:
                    taken.append(order)
            negatives += taken
        orders = np.empty((num_videos, needed + 1, size), np.int64)
        orders[:, 0] = identity
        orders[:, 1:] = book.array(negatives).reshape(num_videos, needed, size)
        return orders

    def forward(self, pooled_video: torch.Tensor, pooled_text: torch.Tensor,
                text_start: torch.Tensor, text_end: torch.Tensor,
                video_start: torch.Tensor,
                video_end: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pooled_video: ``[N, H]``, ``N = num_videos * clip_per_video``.
            pooled_text: ``[N, H]``.
            text_start, text_end, video_start, video_end: ``[N]`` clip
                bounds (any unit; compared within a video only).

        Returns:
            A 0-dim loss; a zero still attached to the inputs' graph when no
            video keeps ``sampling_threshold`` clips.
        """
        self._check_inputs(pooled_video, pooled_text, text_start, text_end,
                           video_start, video_end)
        rows = self.selected_rows(text_start, text_end, video_start, video_end)
        if not rows:
            return zero_with_grad(pooled_video, pooled_text)
        device = pooled_video.device
        orders = self.candidate_orders(len(rows))
        dists = row_cosine_distances(pooled_text, pooled_video,
                                     torch.as_tensor(
                                         np.array(rows, dtype=np.int64),
                                         device=device),
                                     self.eps)  # [V, T(sentences), T(clips)]
        costs = gathered_alignment_cost(
            dists.view(-1), candidate_grids(orders), self.metric,
            self.lbda).view(orders.shape[:2])  # [V, S]
        # the mean over the kept videos of their cross-entropy
        targets = torch.zeros(orders.shape[0], dtype=torch.long, device=device)
        return F.cross_entropy(-costs, targets)

    def _check_inputs(self, pooled_video, pooled_text, *bounds) -> None:
        if pooled_video.dim() != 2 or pooled_video.shape != pooled_text.shape:
            raise ValueError(
                'TemporalAlignmentLoss expects pooled_video and pooled_text '
                f'[N, H] of one shape, got {list(pooled_video.shape)} and '
                f'{list(pooled_text.shape)}')
        num_rows = pooled_video.shape[0]
        if num_rows % self.clip_per_video:
            raise ValueError(
                f'TemporalAlignmentLoss: {num_rows} rows are not a whole '
                f'number of videos of clip_per_video={self.clip_per_video}')
        names = ('text_start', 'text_end', 'video_start', 'video_end')
        for name, bound in zip(names, bounds):
            if tuple(bound.shape) != (num_rows, ):
                raise ValueError(f'TemporalAlignmentLoss: {name} has shape '
                                 f'{list(bound.shape)}, expected [{num_rows}]')
