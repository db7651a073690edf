"""TSTL's class-balanced batches: ``classes_per_batch`` classes x
``samples_per_class`` clips, each clip at most once per epoch.

The official ``custom_sampler.CustomBatchSampler`` (4 classes x 2 clips)
draws 4 classes uniformly, takes 2 unused clips of each, and throws the batch
away when a class has fewer than 2 left (the clips it took stay used); it
ignores distributed training (every rank draws its own batches from the whole
dataset with Python's unseeded ``random``), its ``__len__`` says
``num_samples // batch_size`` although it stops early, and it only ends
because of a 100000-iteration guard when classes run dry.
:class:`ClassBalancedBatchSampler` keeps the batch layout and fixes the rest.
"""
from typing import Iterator, List, Optional, Sized

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from vtg_plugins.registry import DATA_SAMPLERS
from ..grouping import is_integer


def max_balanced_batches(chunks_per_class: np.ndarray, k: int) -> int:
    """The largest ``B`` such that ``B`` batches of ``k`` distinct classes
    can be made from ``chunks_per_class[c]`` chunks of each class ``c``:
    ``sum_c min(n_c, B) >= k * B`` (the left side minus the right is concave
    in ``B`` and 0 at ``B = 0``, so the feasible ``B`` form an interval)."""
    n = np.asarray(chunks_per_class, dtype=np.int64)
    lo, hi = 0, int(n.sum()) // k
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(n, mid).sum() >= k * mid:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _draw(rng: np.random.Generator, weights: np.ndarray, n: int) -> list:
    """``n`` distinct indices drawn with probability proportional to
    ``weights``."""
    if n == 0:
        return []
    return rng.choice(
        len(weights), n, replace=False, p=weights / weights.sum()).tolist()


@DATA_SAMPLERS.register_module()
class ClassBalancedBatchSampler(Sampler):
    """Batches of ``classes_per_batch`` distinct classes with
    ``samples_per_class`` clips each, without repeating a clip in an epoch.

    Per epoch (the same on every rank, from ``seed`` and the epoch): each
    class's clips are shuffled and cut into chunks of ``samples_per_class``
    (a remainder shorter than that, or a class with fewer clips, sits the
    epoch out); batches take one chunk from each of ``classes_per_batch``
    classes, drawn with probability proportional to their chunks left while
    guaranteeing the most batches possible (:func:`max_balanced_batches`),
    so the count per epoch is fixed and no draw ever loops. Rank ``r`` of
    ``w`` gets global batches ``r, r + w, ...``: the ranks' batches are
    disjoint and equally many.

    Config form (MMEngine's ``Runner.build_dataloader`` passes ``sampler``
    and ``batch_size``; the sampler gives the dataset, its ``seed`` and its
    epoch, which ``DistSamplerSeedHook`` sets; its index order is not
    used)::

        train_dataloader = dict(
            batch_size=8,  # must be classes_per_batch * samples_per_class
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_sampler=dict(type='ClassBalancedBatchSampler',
                               classes_per_batch=4, samples_per_class=2),
            dataset=...)

    Labels come from ``dataset.get_data_info(i)['label']`` (no video is
    decoded): classes for an expert, group ids for a selector wrapped in
    ``GroupLabelDataset`` (the official selector balances groups).

    Args:
        dataset: the dataset (default: ``sampler.dataset``).
        classes_per_batch: distinct classes per batch (official 4).
        samples_per_class: clips per class per batch (official 2).
        seed: the shuffling seed (default: ``sampler.seed``, else MMEngine's
            ``sync_random_seed()``, the same on every rank).
        drop_last: True: only full balanced batches; False: the clips left
            over also come, in batches of ``batch_size`` (the last may be
            smaller; not balanced), and the global list is padded by
            repeating its first batches to a multiple of the world size.
        sampler: the Runner's sampler (see above).
        batch_size: the Runner's ``batch_size``; it must equal
            ``classes_per_batch * samples_per_class``.
    """

    def __init__(self,
                 dataset: Optional[Sized] = None,
                 classes_per_batch: int = 4,
                 samples_per_class: int = 2,
                 seed: Optional[int] = None,
                 drop_last: bool = True,
                 sampler: Optional[Sampler] = None,
                 batch_size: Optional[int] = None) -> None:
        if classes_per_batch < 1 or samples_per_class < 1:
            raise ValueError('ClassBalancedBatchSampler: classes_per_batch '
                             'and samples_per_class must be >= 1')
        self.batch_size = classes_per_batch * samples_per_class
        if batch_size is not None and batch_size != self.batch_size:
            raise ValueError(
                f'ClassBalancedBatchSampler: batch_size={batch_size} but '
                f'classes_per_batch x samples_per_class = '
                f'{classes_per_batch} x {samples_per_class} = '
                f'{self.batch_size}')
        if dataset is None:
            dataset = getattr(sampler, 'dataset', None)
        if dataset is None:
            raise ValueError('ClassBalancedBatchSampler needs `dataset` or a '
                             '`sampler` with a `dataset`')
        if seed is None:
            seed = getattr(sampler, 'seed', None)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.sampler = sampler
        self.dataset = dataset
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.drop_last = drop_last
        self.rank, self.world_size = get_dist_info()
        self._epoch = 0
        self._by_class = self._indices_by_class(dataset)
        chunks = np.array(
            [len(v) // samples_per_class for v in self._by_class.values()])
        self._num_balanced = max_balanced_batches(chunks, classes_per_batch)
        if self._num_balanced < self.world_size:
            raise ValueError(
                f'ClassBalancedBatchSampler: {len(self._by_class)} classes, '
                f'{int((chunks > 0).sum())} of them with >= '
                f'{samples_per_class} clips, make {self._num_balanced} '
                f'batches of {classes_per_batch} classes: fewer than the '
                f'{self.world_size} rank(s)')

    @staticmethod
    def _indices_by_class(dataset: Sized) -> dict:
        if not hasattr(dataset, 'get_data_info'):
            raise TypeError(f'{type(dataset).__name__} has no get_data_info;'
                            ' ClassBalancedBatchSampler reads its labels '
                            'there')
        by_class: dict = {}
        for i in range(len(dataset)):
            label = dataset.get_data_info(i).get('label')
            if not is_integer(label):
                raise ValueError(
                    f'ClassBalancedBatchSampler: record {i} of '
                    f'{type(dataset).__name__} has label {label!r}; one '
                    'integer class per record is needed')
            by_class.setdefault(int(label), []).append(i)
        return {c: np.asarray(by_class[c]) for c in sorted(by_class)}

    @property
    def epoch(self) -> int:
        """The wrapped sampler's epoch when it has one (the Runner's hook
        sets it there), else the one :meth:`set_epoch` gave."""
        return int(getattr(self.sampler, 'epoch', self._epoch))

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (forwarded to the wrapped sampler)."""
        self._epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def _balanced_batches(self, rng: np.random.Generator) -> tuple:
        """All ranks' balanced batches of this epoch, and the clips left."""
        k, spc = self.classes_per_batch, self.samples_per_class
        stacks, left = [], []
        for members in self._by_class.values():
            shuffled = rng.permutation(members)
            usable = len(shuffled) // spc * spc
            stacks.append(list(shuffled[:usable].reshape(-1, spc)))
            left.extend(shuffled[usable:].tolist())
        counts = np.array([len(s) for s in stacks], dtype=np.int64)
        batches = []
        for todo in range(self._num_balanced, 0, -1):
            # feasibility: sum_c min(counts_c, todo) >= k * todo must stay
            # true; classes with counts >= todo ("saturated") lose nothing
            # of that sum when drawn, so at least `forced` of them must be
            saturated = np.flatnonzero(counts >= todo)
            slack = int(np.minimum(counts, todo).sum()) - k * todo
            forced = max(0, len(saturated) - slack)
            weights = np.zeros(len(counts))
            weights[saturated] = counts[saturated]
            chosen = _draw(rng, weights, forced)
            weights = counts.astype(np.float64)
            weights[chosen] = 0.0
            chosen += _draw(rng, weights, k - forced)
            batch = []
            for c in chosen:
                batch.extend(int(i) for i in stacks[c].pop())
                counts[c] -= 1
            batches.append(batch)
        for s in stacks:
            left.extend(int(i) for chunk in s for i in chunk)
        return batches, left

    def _epoch_batches(self) -> List[List[int]]:
        """This rank's batches of the current epoch."""
        rng = np.random.default_rng([self.seed % 2**32, self.epoch])
        batches, left = self._balanced_batches(rng)
        if not self.drop_last:
            left = rng.permutation(np.asarray(left, dtype=np.int64)).tolist()
            batches += [
                left[i:i + self.batch_size]
                for i in range(0, len(left), self.batch_size)
            ]
            batches += batches[:-len(batches) % self.world_size]
        per_rank = len(batches) // self.world_size
        return batches[self.rank:per_rank * self.world_size:self.world_size]

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self._epoch_batches())

    def __len__(self) -> int:
        """This rank's batches per epoch (the same in every epoch)."""
        total = self._num_balanced
        if not self.drop_last:
            used = total * self.batch_size
            left = len(self.dataset) - used
            total += -(-left // self.batch_size)
            return -(-total // self.world_size)
        return total // self.world_size
