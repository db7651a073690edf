"""Retrieval-augmented batching of VideoCLIP / TempCLR (MMPT ``RetriTask``,
``VideoPredictor`` + ``VideoVectorPool``, ``VideoRetriPredictor``).

Before each training epoch from ``begin_epoch`` on (MMPT ``retri_epoch: 1``:
every epoch, the first included), every rank:

1. embeds its share of the training videos: a video's vector is the mean
   over ``clip_per_video`` clips of ``(pooled_video + pooled_text) / 2``
   (``VideoVectorPool``), with clips drawn as MMPT's retrieval pass draws
   them (``VariedLenAligner``: video windows aligned with their captions);
2. draws ``len(share) // num_video_per_batch`` seed videos and, for each,
   takes its ``num_cands`` nearest videos of the share (L2, the metric of
   MMPT's faiss index), prepends the seed, drops the seed's own hit and
   keeps a random ``num_video_per_batch`` of them as a group (the seed may
   drop out: MMPT "moved the center");
3. all ranks' groups are gathered in rank order, so every rank sets the
   same list with :meth:`How2ShardedDataset.set_groups`.

Departures: MMPT searches a faiss ``IndexIVFFlat`` (512 lists, one probed),
which is approximate and may return fewer than ``num_cands`` videos; the
search here is exact (chunked top-k in torch). MMPT reseeds the global
generators with the epoch; here draws come from ``random.Random`` instances
seeded with ``seed + epoch`` (seeds and groups) and ``seed + epoch`` plus
the video's position (its clips), leaving the global state alone, so a
video's vector does not depend on batching or the number of ranks. A
rank's share is every ``world_size``-th video of the list (MMPT: a shuffled
``DistributedSampler`` split).

The model provides ``encode_video(vfeats, vmasks) -> [N, H]`` and
``encode_text(caps, cmasks) -> [N, H]``.
"""
import random
from typing import List, Sequence

import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook

from vtg_plugins.engine.gathered_weights import whole_weights
from vtg_plugins.registry import HOOKS

_ROWS = ('vfeats', 'vmasks', 'caps', 'cmasks')


def clip_rng(base_seed: int, index: int) -> random.Random:
    """The generator of the clips of the ``index``-th video of the list."""
    return random.Random(f'{base_seed}:{index}')


@torch.no_grad()
def video_vectors(model,
                  dataset,
                  video_ids: Sequence[str],
                  indices: Sequence[int],
                  base_seed: int,
                  batch_videos: int = 256) -> torch.Tensor:
    """``[len(video_ids), H]`` float32 vectors (see module doc, step 1).

    Args:
        model: has ``encode_video`` and ``encode_text``; its parameters'
            device is used.
        dataset: has ``retrieval_inputs(video_id, rng)`` and
            ``clip_per_video``.
        video_ids (Sequence[str]): videos to embed.
        indices (Sequence[int]): their positions in the list (clip seeds).
        base_seed (int): seed of :func:`clip_rng`.
        batch_videos (int): videos per forward pass (MMPT: 16 x 16).
    """
    device = next(model.parameters()).device
    if not video_ids:
        return torch.zeros((0, 0), device=device)
    clips = dataset.clip_per_video
    out = []
    for begin in range(0, len(video_ids), batch_videos):
        items = [
            dataset.retrieval_inputs(video_id, clip_rng(base_seed, index))
            for video_id, index in zip(video_ids[begin:begin + batch_videos],
                                       indices[begin:begin + batch_videos])
        ]
        rows = {
            k: torch.cat([it[k] for it in items]).to(device)
            for k in _ROWS
        }
        pooled = (model.encode_video(rows['vfeats'], rows['vmasks']) +
                  model.encode_text(rows['caps'], rows['cmasks'])) / 2.0
        out.append(pooled.float().view(len(items), clips, -1).mean(dim=1))
    return torch.cat(out)


def nearest_neighbours(vectors: torch.Tensor,
                       queries: torch.Tensor,
                       k: int,
                       chunk_size: int = 1024) -> torch.Tensor:
    """Exact L2 top-k: ``[Q, k]`` indices into ``vectors [N, H]`` of the
    ``k`` vectors nearest to each of ``vectors[queries]`` (``queries [Q]``
    long), nearest first."""
    sq_norms = (vectors * vectors).sum(dim=1)
    out = []
    for begin in range(0, len(queries), chunk_size):
        rows = queries[begin:begin + chunk_size]
        dists = sq_norms[rows, None] - 2 * vectors[rows] @ vectors.T \
            + sq_norms[None, :]
        out.append(dists.topk(k, dim=1, largest=False).indices)
    return torch.cat(out) if out else queries.new_zeros((0, k))


def retrieval_groups(vectors: torch.Tensor,
                     video_ids: Sequence[str],
                     group_size: int,
                     num_cands: int,
                     rng: random.Random,
                     chunk_size: int = 1024) -> List[List[str]]:
    """Groups of similar videos (see module doc, step 2).

    Args:
        vectors (Tensor): ``[N, H]`` video vectors, row i of ``video_ids[i]``
            (ids unique).
        group_size (int): videos per group (``num_video_per_batch``).
        num_cands (int): neighbours searched per seed (MMPT: 64).
        rng (random.Random): draws the seeds, then each group.
    """
    count = len(video_ids)
    seeds = rng.sample(range(count), count // group_size)
    if not seeds:
        return []
    hits = nearest_neighbours(vectors, torch.tensor(seeds),
                              min(num_cands, count), chunk_size)
    groups = []
    for seed, row in zip(seeds, hits.tolist()):
        cands = [video_ids[seed]] + [video_ids[j] for j in row if j != seed]
        if len(cands) > group_size:
            cands = rng.sample(cands, group_size)
        groups.append(cands)
    return groups


def _groupable_dataset(dataset):
    while not hasattr(dataset, 'set_groups'):
        if not hasattr(dataset, 'dataset'):
            raise TypeError(
                'RetrievalBatchingHook: the training dataset has no '
                'set_groups() (use How2ShardedDataset)')
        dataset = dataset.dataset
    return dataset


@HOOKS.register_module()
class RetrievalBatchingHook(Hook):
    """Regroup the training videos by similarity before epochs.

    Args:
        begin_epoch (int): first epoch (1-based, MMPT ``retri_epoch``) that
            regroups. Default 1.
        interval (int): regroup every ``interval`` epochs from then on.
            Default 1 (MMPT).
        num_cands (int): neighbours per seed video. Default 64.
        batch_videos (int): videos per embedding forward pass. Default 256.
        seed (int): base seed of the retrieval draws. Default 0.
        chunk_size (int): seed videos per distance block. Default 1024.

    Needs a DataLoader without persistent workers: they would keep the
    groups of the epoch they started in.
    """

    priority = 'NORMAL'

    def __init__(self,
                 begin_epoch: int = 1,
                 interval: int = 1,
                 num_cands: int = 64,
                 batch_videos: int = 256,
                 seed: int = 0,
                 chunk_size: int = 1024) -> None:
        if begin_epoch < 1 or interval < 1 or num_cands < 1:
            raise ValueError('RetrievalBatchingHook: begin_epoch, interval '
                             'and num_cands must be >= 1')
        self.begin_epoch = begin_epoch
        self.interval = interval
        self.num_cands = num_cands
        self.batch_videos = batch_videos
        self.seed = seed
        self.chunk_size = chunk_size

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if getattr(loader, 'persistent_workers', False):
            raise ValueError(
                'RetrievalBatchingHook: set train_dataloader.'
                'persistent_workers=False; persistent workers keep a copy '
                'of the dataset and would never see the new groups')
        _groupable_dataset(loader.dataset)

    def before_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1
        if epoch < self.begin_epoch or \
                (epoch - self.begin_epoch) % self.interval:
            return
        dataset = _groupable_dataset(runner.train_dataloader.dataset)
        groups = self.regroup(runner.model, dataset, epoch)
        dataset.set_groups(groups)
        runner.logger.info(f'RetrievalBatchingHook: epoch {epoch}: '
                           f'{len(groups)} groups of similar videos')

    def regroup(self, model, dataset, epoch: int) -> List[List[str]]:
        """All ranks' groups of ``epoch`` (1-based), in rank order."""
        rank, world_size = get_dist_info()
        ids = list(dict.fromkeys(dataset.video_ids))  # unique, in order
        share = list(range(rank, len(ids), world_size))
        share_ids = [ids[i] for i in share]
        with whole_weights(model) as module:  # FSDP: gathered
            was_training = module.training
            module.eval()
            try:
                vectors = video_vectors(module, dataset, share_ids, share,
                                        self.seed + epoch, self.batch_videos)
            finally:
                module.train(was_training)
        local = retrieval_groups(vectors, share_ids,
                                 dataset.num_video_per_batch, self.num_cands,
                                 random.Random(self.seed + epoch),
                                 self.chunk_size)
        return [g for part in all_gather_object(local) for g in part]
