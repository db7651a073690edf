"""ClassBalancedBatchSampler: balanced batches, each clip once per epoch, the
real count, ranks disjoint, deterministic per seed and epoch, and the config
form through MMEngine's Runner.build_dataloader."""
from collections import Counter

import pytest
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from vtg_tstl.datasets import samplers
from vtg_tstl.datasets.samplers import (ClassBalancedBatchSampler,
                                        max_balanced_batches)


class LabelList:
    """A dataset that only knows its labels (videos are never decoded)."""

    def __init__(self, labels):
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def get_data_info(self, idx):
        return dict(label=self.labels[idx])

    def __getitem__(self, idx):
        raise AssertionError('the sampler must not load samples')


def _labels(counts):
    return [c for c, n in enumerate(counts) for _ in range(n)]


def _sampler(labels, rank=0, world=1, monkeypatch=None, **kw):
    if monkeypatch is not None:
        monkeypatch.setattr(samplers, 'get_dist_info', lambda: (rank, world))
    kw.setdefault('seed', 0)
    return ClassBalancedBatchSampler(LabelList(labels), **kw)


def _check_balanced(batches, labels, k=4, spc=2):
    for batch in batches:
        assert len(batch) == k * spc
        per_class = Counter(labels[i] for i in batch)
        assert len(per_class) == k and set(per_class.values()) == {spc}
        # the official layout: each class's clips side by side
        assert [labels[i] for i in batch[::spc]] == list(per_class)


def test_balanced_no_repeat_and_real_length():
    labels = _labels([7, 9, 4, 12, 3, 8, 5, 6])
    sampler = _sampler(labels)
    batches = list(sampler)
    _check_balanced(batches, labels)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
    # chunks per class 3,4,2,6,1,4,2,3 = 25: max_balanced_batches gives 6
    # (sum min(n, 6) = 24 >= 4 * 6; B = 7 needs 28 > 25)
    assert len(sampler) == len(batches) == 6


def test_max_balanced_batches_by_hand():
    assert max_balanced_batches([5, 1, 1, 1, 0], 4) == 1
    assert max_balanced_batches([5, 1, 1, 1, 0], 2) == 3
    assert max_balanced_batches([3, 3, 3, 3], 4) == 3
    assert max_balanced_batches([3, 3, 3], 4) == 0
    assert max_balanced_batches([10, 10, 1], 2) == 10


def test_small_classes_sit_out_without_looping():
    # class 0 has 10 clips, 1..3 two each, class 4 one: with 2 classes x 2
    # clips, 3 batches, each pairing class 0 with another class (the
    # official sampler would draw random classes and throw batches away)
    labels = _labels([10, 2, 2, 2, 1])
    sampler = _sampler(labels, classes_per_batch=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    _check_balanced(batches, labels, k=2)
    assert all(labels[b[0]] == 0 or labels[b[2]] == 0 for b in batches)
    assert 4 not in {labels[i] for b in batches for i in b}


def test_deterministic_per_seed_and_epoch():
    labels = _labels([6] * 10)
    a, b = _sampler(labels), _sampler(labels)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first and sorted(map(sorted, a)) != sorted(
        map(sorted, first))
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(_sampler(labels, seed=1)) != first


def test_ranks_are_disjoint_and_equal(monkeypatch):
    labels = _labels([5, 8, 6, 7, 9, 4, 6, 5, 7])
    whole = list(_sampler(labels, 0, 1, monkeypatch))
    parts = [list(_sampler(labels, r, 3, monkeypatch)) for r in range(3)]
    lengths = [len(_sampler(labels, r, 3, monkeypatch)) for r in range(3)]
    assert lengths == [len(p) for p in parts] == [len(whole) // 3] * 3
    seen = [i for p in parts for b in p for i in b]
    assert len(seen) == len(set(seen))
    # rank r takes global batches r, r + 3, ...
    for r in range(3):
        assert parts[r] == whole[r:len(parts[r]) * 3:3]


def test_drop_last_false_covers_every_clip(monkeypatch):
    labels = _labels([7, 9, 4, 12, 3, 8, 5, 1])
    sampler = _sampler(labels, drop_last=False)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(labels)))
    # chunks 3,4,2,6,1,4,2,0: 5 balanced batches (sum min(n, 5) = 21 >=
    # 20), then the 49 - 40 = 9 clips left in batches of 8 and 1
    assert len(batches) == len(sampler) == 7
    _check_balanced(batches[:5], labels)
    assert [len(b) for b in batches[5:]] == [8, 1]
    # two ranks: the list is padded with its first batches to an even count
    parts = [
        list(_sampler(labels, r, 2, monkeypatch, drop_last=False))
        for r in range(2)
    ]
    assert len(parts[0]) == len(parts[1]) == len(
        _sampler(labels, 1, 2, monkeypatch, drop_last=False))
    assert len(parts[0]) == -(-len(batches) // 2)


def test_errors():
    with pytest.raises(
            ValueError,
            match='batch_size=6 but '
            'classes_per_batch x samples_per_class = 4 x 2'):
        ClassBalancedBatchSampler(LabelList([0] * 8), batch_size=6, seed=0)
    with pytest.raises(ValueError, match='needs `dataset` or a `sampler`'):
        ClassBalancedBatchSampler(seed=0)
    with pytest.raises(
            ValueError, match=r'record 1 of LabelList has label '
            r'\[1, 2\]'):
        ClassBalancedBatchSampler(LabelList([0, [1, 2]]), seed=0)
    with pytest.raises(
            ValueError,
            match=r'3 classes, 3 of them with >= 2 '
            'clips, make 0 batches of 4 classes'):
        _sampler(_labels([4, 4, 4]))
    with pytest.raises(TypeError, match='has no get_data_info'):
        ClassBalancedBatchSampler([1, 2, 3], seed=0)


def test_config_form_through_runner(monkeypatch):
    labels = _labels([4] * 6)
    dataset = LabelList(labels)
    cfg = dict(
        dataset=dataset,
        batch_size=8,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(
            type='ClassBalancedBatchSampler',
            classes_per_batch=4,
            samples_per_class=2),
        collate_fn=dict(type='pseudo_collate'))
    with DefaultScope.overwrite_default_scope('vtg_plugins'):
        loader = Runner.build_dataloader(cfg, seed=123)
        batch_sampler = loader.batch_sampler
        assert isinstance(batch_sampler, ClassBalancedBatchSampler)
        assert batch_sampler.seed == 123  # the sampler's (Runner's) seed
        assert len(loader) == len(batch_sampler) == 3
        epoch0 = list(batch_sampler)
        _check_balanced(epoch0, labels)
        # DistSamplerSeedHook sets the epoch on batch_sampler.sampler
        batch_sampler.sampler.set_epoch(1)
        assert list(batch_sampler) != epoch0
        assert list(batch_sampler) == _epoch(dataset, 123, 1)
        cfg['batch_size'] = 4
        with pytest.raises(ValueError, match='batch_size=4'):
            Runner.build_dataloader(cfg, seed=123)


def _epoch(dataset, seed, epoch):
    sampler = ClassBalancedBatchSampler(dataset, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize('case', range(40))
def test_random_class_sizes_always_reach_the_reported_count(case):
    import random
    rng = random.Random(case)
    counts = [rng.randint(0, 12) for _ in range(rng.randint(3, 12))]
    k = rng.randint(1, 4)
    spc = rng.randint(1, 3)
    labels = _labels(counts)
    chunks = [n // spc for n in counts]
    expected = max_balanced_batches(chunks, k)
    if expected == 0:
        with pytest.raises(ValueError, match='make 0 batches'):
            _sampler(labels, classes_per_batch=k, samples_per_class=spc)
        return
    sampler = _sampler(
        labels, classes_per_batch=k, samples_per_class=spc, seed=case)
    batches = list(sampler)
    assert len(batches) == len(sampler) == expected
    # independent optimum: repeatedly take one chunk of the k classes with
    # the most chunks left (optimal for batches of k distinct classes)
    left, greedy = sorted(chunks, reverse=True), 0
    while len(left) >= k and left[k - 1] > 0:
        left = sorted([n - 1 for n in left[:k]] + left[k:], reverse=True)
        greedy += 1
    assert expected == greedy
    _check_balanced(batches, labels, k=k, spc=spc)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
