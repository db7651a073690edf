"""Test helpers for the HD-VILA models: a tiny stand-in video encoder (the
``HDVILAVideoEncoder`` contract, cheap) and batches the tests make.

Loaded by the tests with ``importlib`` (pytest runs in importlib mode)."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import nn

from vtg_plugins.registry import MODELS

#: ids of the tiny vocabulary's special tokens: [PAD] [CLS] [SEP] [MASK]
PAD, CLS, SEP, MASK = 0, 1, 2, 3
TINY_SPECIAL_IDS = (PAD, CLS, SEP, MASK)
#: the grid the stand-in encoder returns
GRID = (2, 3)


@MODELS.register_module(force=True)
class StandInGridEncoder(nn.Module):
    """``(keyframes [N, 3, Hk, Wk], frames [N, T-1, 3, Hl, Wl]) -> [N, C,
    2, 3]``: 1x1 convs, average-pooled to the grid, summed over the two
    inputs (the frames averaged over time)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.key = nn.Conv2d(3, hidden_size, 1)
        self.low = nn.Conv2d(3, hidden_size, 1)

    def forward(self,
                keyframes: Optional[torch.Tensor] = None,
                frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        grids = []
        if keyframes is not None:
            grids.append(F.adaptive_avg_pool2d(self.key(keyframes), GRID))
        if frames is not None:
            num, steps = frames.shape[:2]
            low = F.adaptive_avg_pool2d(self.low(frames.flatten(0, 1)), GRID)
            grids.append(low.view(num, steps, *low.shape[1:]).mean(1))
        return sum(grids)


def stand_in(hidden_size: int) -> dict:
    return dict(type='StandInGridEncoder', hidden_size=hidden_size)


def video_batch(videos: int,
                clips: int,
                steps: int = 3,
                seed: int = 0) -> dict:
    """uint8 ``keyframes [B, clips, 3, 8, 12]`` and ``frames [B, clips,
    steps - 1, 3, 4, 6]``."""
    g = torch.Generator().manual_seed(seed)
    return dict(
        keyframes=torch.randint(
            256, (videos, clips, 3, 8, 12), generator=g, dtype=torch.uint8),
        frames=torch.randint(
            256, (videos, clips, steps - 1, 3, 4, 6),
            generator=g,
            dtype=torch.uint8))


def token_rows(rows: int, length: int, vocab: int,
               g: torch.Generator) -> Sequence[torch.Tensor]:
    """``[CLS] words [SEP] [PAD]..`` rows of random lengths: ids, mask."""
    ids = torch.zeros(rows, length, dtype=torch.long)
    mask = torch.zeros(rows, length, dtype=torch.long)
    for r in range(rows):
        n = int(torch.randint(3, length + 1, (1, ), generator=g))
        words = torch.randint(MASK + 1, vocab, (n - 2, ), generator=g)
        ids[r, :n] = torch.cat(
            [torch.tensor([CLS]), words,
             torch.tensor([SEP])])
        mask[r, :n] = 1
    return ids, mask


def caption_samples(videos: int,
                    length: int = 7,
                    vocab: int = 64,
                    seed: int = 0,
                    **fields: Sequence) -> List[BaseDataElement]:
    """One caption (``text_ids`` / ``text_mask`` ``[L]``) per sample, plus
    per-sample ``fields`` (lists of length ``videos``)."""
    g = torch.Generator().manual_seed(seed)
    ids, mask = token_rows(videos, length, vocab, g)
    return [
        BaseDataElement(
            text_ids=ids[i],
            text_mask=mask[i],
            sample_idx=i,
            **{
                k: v[i]
                for k, v in fields.items()
            }) for i in range(videos)
    ]


def option_samples(videos: int,
                   options: int,
                   length: int = 6,
                   vocab: int = 64,
                   seed: int = 0,
                   **fields: Sequence) -> List[BaseDataElement]:
    """``option_ids`` / ``option_mask`` ``[K, L]`` per sample."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(videos):
        ids, mask = token_rows(options, length, vocab, g)
        samples.append(
            BaseDataElement(
                option_ids=ids,
                option_mask=mask,
                question_id=i,
                **{
                    k: v[i]
                    for k, v in fields.items()
                }))
    return samples
