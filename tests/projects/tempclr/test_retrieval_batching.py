"""Retrieval-augmented batching (MMPT ``RetriTask.retrive_candidates``,
``VideoVectorPool``, ``VideoRetriPredictor``): video vectors, exact L2
neighbours, groups, the hook, and two gloo ranks."""
import json
import os
import pickle
import random
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from vtg_tempclr.datasets import How2ShardedDataset
from vtg_tempclr.engine.retrieval_batching import (RetrievalBatchingHook,
                                                   clip_rng,
                                                   nearest_neighbours,
                                                   retrieval_groups,
                                                   video_vectors)
from vtg_tempclr.testing import write_how2_shards

SPECIAL = dict(cls_id=2, sep_id=3, pad_id=0)
CLIPS = 3


class FakeDualEncoder(torch.nn.Module):
    """Masked means through a linear map / an embedding; records the
    training flag of every call."""

    def __init__(self, dim=8, vocab=40, hidden=6):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.video = torch.nn.Linear(dim, hidden)
        self.text = torch.nn.Embedding(vocab, hidden)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        self.modes = []

    @staticmethod
    def _mean(x, mask):
        m = mask.unsqueeze(-1).float()
        return (x * m).sum(1) / m.sum(1).clamp(min=1)

    def encode_video(self, vfeats, vmasks):
        self.modes.append(self.training)
        return self.video(self._mean(vfeats, vmasks))

    def encode_text(self, caps, cmasks):
        return self._mean(self.text(caps), cmasks)


@pytest.fixture(scope='module')
def how2(tmp_path_factory):
    return write_how2_shards(
        tmp_path_factory.mktemp('how2'),
        num_videos=26,
        shard_size=6,
        feature_dim=8,
        seed=1)


def _dataset(how2):
    return How2ShardedDataset(
        **how2,
        special_tokens=SPECIAL,
        num_video_per_batch=4,
        clip_per_video=CLIPS,
        group_multiple=2)


# --- neighbours and groups ---------------------------------------------------
def test_nearest_neighbours_are_exact_l2_in_any_chunking():
    gen = torch.Generator().manual_seed(0)
    vectors = torch.randn(50, 7, generator=gen, dtype=torch.float64)
    queries = torch.tensor([3, 0, 49, 17, 3])
    expected = torch.cdist(vectors[queries], vectors).argsort(dim=1)[:, :9]
    for chunk in (1, 2, 1024):
        assert torch.equal(
            nearest_neighbours(vectors, queries, 9, chunk), expected)


def oracle_groups(vectors, ids, group_size, num_cands, rng):
    """MMPT's loop: seeds drawn from the ids, each searched, the seed put
    first, its own hit dropped, then a random group of the candidates."""
    seeds = rng.sample(ids, len(ids) // group_size)
    order = torch.cdist(vectors, vectors).argsort(dim=1)
    groups = []
    for seed in seeds:
        s = ids.index(seed)
        hits = order[s, :num_cands].tolist()
        cands = [seed] + [ids[j] for j in hits if j != s]
        if len(cands) > group_size:
            cands = rng.sample(cands, group_size)
        groups.append(cands)
    return groups


def test_groups_follow_the_official_draws():
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    ids = [f'v{i}' for i in range(40)]
    for seed in range(5):
        got = retrieval_groups(vectors, ids, 4, 10, random.Random(seed), 7)
        assert got == oracle_groups(vectors, ids, 4, 10, random.Random(seed))
        assert len(got) == 10 and all(len(g) == 4 for g in got)


def test_groups_stay_inside_planted_clusters():
    gen = torch.Generator().manual_seed(2)
    centres = 100 * torch.randn(3, 4, generator=gen)
    vectors = centres.repeat_interleave(
        12, dim=0) + torch.randn(
            36, 4, generator=gen)
    ids = [f'c{i // 12}_{i}' for i in range(36)]
    groups = retrieval_groups(vectors, ids, 4, 8, random.Random(0))
    assert len(groups) == 9
    for group in groups:
        assert len({v.split('_')[0] for v in group}) == 1


def test_few_candidates_form_the_group_unsampled():
    vectors = torch.tensor([[0.0], [1.0], [3.0], [7.0], [15.0], [31.0]])
    ids = list('abcdef')
    groups = retrieval_groups(vectors, ids, 4, 3, random.Random(0))
    assert len(groups) == 1
    seed = groups[0][0]
    s = ids.index(seed)
    near = sorted(range(6), key=lambda j: abs(vectors[j, 0] - vectors[s, 0]))
    assert groups[0] == [seed] + [ids[j] for j in near[1:3]]


# --- vectors and the hook ----------------------------------------------------
def test_video_vectors_average_both_towers_over_the_clips(how2):
    ds = _dataset(how2)
    model = FakeDualEncoder().eval()
    ids = ds.video_ids[:5]
    indices = [0, 1, 2, 3, 4]
    with torch.no_grad():
        expected = []
        for video_id, i in zip(ids, indices):
            rows = ds.retrieval_inputs(video_id, clip_rng(7, i))
            pooled = (model.encode_video(rows['vfeats'], rows['vmasks']) +
                      model.encode_text(rows['caps'], rows['cmasks'])) / 2
            expected.append(pooled.mean(dim=0))
    for batch in (1, 2, 64):
        got = video_vectors(model, ds, ids, indices, 7, batch)
        torch.testing.assert_close(got, torch.stack(expected))
    other = video_vectors(model, ds, ids, indices, 8, 64)
    assert not torch.allclose(other, torch.stack(expected))


def _runner(ds, model, epoch, **loader):
    return SimpleNamespace(
        epoch=epoch,
        model=model,
        train_dataloader=DataLoader(ds, **loader),
        logger=MMLogger.get_current_instance())


def test_hook_regroups_on_its_epochs_in_eval_mode(how2):
    ds = _dataset(how2)
    first = [ds.get_data_info(i)['video_ids'] for i in range(len(ds))]
    model = FakeDualEncoder()
    hook = RetrievalBatchingHook(begin_epoch=2, interval=2, num_cands=6)
    hook.before_train(_runner(ds, model, 0))
    hook.before_train_epoch(_runner(ds, model, 0))  # epoch 1: skipped
    assert [ds.get_data_info(i)['video_ids'] for i in range(6)] == first
    assert model.modes == []
    hook.before_train_epoch(_runner(ds, model, 1))  # epoch 2: regroups
    groups = [ds.get_data_info(i)['video_ids'] for i in range(len(ds))]
    assert len(groups) == 26 // 4 and groups != first
    assert all(len(g) == 4 and set(g) <= set(ds.video_ids) for g in groups)
    assert model.modes and not any(model.modes) and model.training
    ids = ds.video_ids
    vectors = video_vectors(model, ds, ids, range(26), 2, 256)
    assert groups == retrieval_groups(vectors, ids, 4, 6, random.Random(2))
    model.modes.clear()
    hook.before_train_epoch(_runner(ds, model, 2))  # epoch 3: skipped
    assert model.modes == []


def test_hook_refuses_persistent_workers_and_foreign_datasets(how2):
    ds = _dataset(how2)
    hook = RetrievalBatchingHook()
    with pytest.raises(ValueError, match='persistent_workers=False'):
        hook.before_train(
            _runner(
                ds,
                FakeDualEncoder(),
                0,
                num_workers=1,
                persistent_workers=True))
    with pytest.raises(TypeError, match='has no set_groups'):
        hook.before_train(_runner(list(range(4)), FakeDualEncoder(), 0))
    with pytest.raises(ValueError, match='must be >= 1'):
        RetrievalBatchingHook(begin_epoch=0)


# --- two gloo ranks ----------------------------------------------------------
def _rank_main(rank, how2, tmp):
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp}/init', rank=rank, world_size=2)
    try:
        groups = RetrievalBatchingHook(num_cands=5).regroup(
            FakeDualEncoder(), _dataset(how2), epoch=1)
        with open(f'{tmp}/groups{rank}.pkl', 'wb') as f:
            pickle.dump(groups, f)
    finally:
        dist.destroy_process_group()


# pytest imports this file by path (--import-mode=importlib): each rank
# loads it the same way and runs _rank_main
_RANK = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('retri_test', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module._rank_main(int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4])
"""


def test_two_ranks_search_their_shares_and_share_all_groups(how2, tmp_path):
    procs = [
        subprocess.Popen([
            sys.executable, '-c', _RANK, __file__,
            str(rank),
            json.dumps(how2),
            str(tmp_path)
        ],
                         env={
                             **os.environ, 'OMP_NUM_THREADS': '1'
                         },
                         stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         text=True) for rank in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    ds, model = _dataset(how2), FakeDualEncoder()
    ids = ds.video_ids
    expected = []
    for rank in range(2):
        share = list(range(rank, 26, 2))
        vectors = video_vectors(model, ds, [ids[i] for i in share], share, 1)
        expected += retrieval_groups(vectors, [ids[i] for i in share], 4, 5,
                                     random.Random(1))
    for rank in range(2):
        with open(tmp_path / f'groups{rank}.pkl', 'rb') as f:
            assert pickle.load(f) == expected
    assert len(expected) == 2 * (13 // 4)
