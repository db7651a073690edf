"""HD-VILA's training losses and the MLM token masking.

- :class:`NCEContrastiveLoss` (official ``optimization/loss.py``): in-batch
  cross entropy of ``video @ text.T / T`` over both directions, **summed**
  (retrieval fine-tuning: ``T = 0.08``, weight 1). The stage-1 ITC of
  ``run_pretrain_stage1_group.py`` is the same sum at ``T = 0.05`` times
  0.5 (``loss_weight=0.5``).
- :func:`gather_with_grad`: the features of every rank, differentiable, so
  the contrastive losses see the global batch as the official
  ``hvd.allgather`` does.
- :func:`mask_text_tokens`: BERT's 15 % masking with 80 / 10 / 10 (official
  ``data_utils.mask_batch_text_tokens``), drawn from an optional generator.
- :func:`masked_lm_loss`, :func:`matching_loss`: the MLM and ITM cross
  entropies (with their accuracies) of stage-2 pre-training.
- :func:`lse_clip_loss`: the video-QA / MC training loss of the ``lse``
  clip aggregation (official ``run_video_qa.py``).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from vtg_plugins.registry import MODELS

#: labels that no loss reads (PyTorch's cross-entropy ``ignore_index``)
IGNORE_INDEX = -100
#: ``bert-base-uncased``'s special ids: [PAD] [UNK] [CLS] [SEP] [MASK]
BERT_SPECIAL_IDS = (0, 100, 101, 102, 103)


@MODELS.register_module()
class NCEContrastiveLoss(nn.Module):
    """``loss_weight * (CE(S) + CE(S.T))``, ``S = video @ text.T / T``, with
    row ``i`` of each side a pair.

    Args:
        temperature (float): ``T`` (official fine-tuning 0.08, stage-1
            pre-training 0.05).
        loss_weight (float): 1 for fine-tuning, 0.5 for stage-1 ITC.
    """

    def __init__(self,
                 temperature: float = 0.08,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``video``, ``text`` ``[N, D]`` (L2-normalised) -> scalar."""
        if video.dim() != 2 or video.shape != text.shape:
            raise ValueError('NCEContrastiveLoss expects video and text '
                             f'features of one shape [N, D], got '
                             f'{list(video.shape)} and {list(text.shape)}')
        scores = video @ text.t() / self.temperature
        target = torch.arange(len(scores), device=scores.device)
        return self.loss_weight * (
            F.cross_entropy(scores, target) +
            F.cross_entropy(scores.t(), target))


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """``x [n, ...]`` of every rank concatenated in rank order, with
    gradients flowing back to each rank's part (``x`` itself when not
    distributed).

    The backward sums the gradients of all ranks, so after DDP averages the
    parameter gradients they equal those of the global-batch loss.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return x
    if dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(x), dim=0)


def mask_text_tokens(
    input_ids: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    special_ids: Sequence[int] = BERT_SPECIAL_IDS,
    mlm_probability: float = 0.15,
    generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """BERT's MLM corruption of a batch of token ids.

    Each token that is not special is chosen with ``mlm_probability``;
    a chosen token becomes ``mask_token_id`` with probability 0.8, else a
    uniformly random id with probability 0.5 (0.1 overall), else stays.
    The draws follow the official order (chosen, masked, random, random
    ids), on the CPU.

    Args:
        input_ids: ``[N, L]`` ids (padding included; padding is special).
        mask_token_id: ``[MASK]`` (103 in ``bert-base-uncased``).
        vocab_size: random ids are drawn from ``[0, vocab_size)``.
        special_ids: ids never chosen (the tokenizer's special tokens).
        mlm_probability: chance of choosing a token.
        generator: a CPU ``torch.Generator`` (None: torch's global RNG).

    Returns:
        ``(corrupted_ids, labels)`` ``[N, L]`` on ``input_ids``' device;
        ``labels`` holds the original id where chosen, -100 elsewhere.
    """
    if not 0 <= mlm_probability <= 1:
        raise ValueError(f'mlm_probability must be in [0, 1], got '
                         f'{mlm_probability}')
    ids = input_ids.detach().cpu().clone()
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    chance = torch.full(ids.shape, mlm_probability).masked_fill(special, 0.)
    chosen = torch.bernoulli(chance, generator=generator).bool()
    labels = ids.masked_fill(~chosen, IGNORE_INDEX)
    masked = torch.bernoulli(
        torch.full(ids.shape, 0.8), generator=generator).bool() & chosen
    ids[masked] = mask_token_id
    randomised = torch.bernoulli(
        torch.full(ids.shape, 0.5),
        generator=generator).bool() & chosen & ~masked
    random_ids = torch.randint(
        vocab_size, ids.shape, dtype=torch.long, generator=generator)
    ids[randomised] = random_ids[randomised]
    return ids.to(input_ids.device), labels.to(input_ids.device)


def masked_lm_loss(
        scores: torch.Tensor,
        labels: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Mean cross entropy over the chosen tokens.

    Args:
        scores: ``[N, L, V]`` MLM logits.
        labels: ``[N, L]``, -100 on tokens that were not chosen.

    Returns:
        ``(loss, accuracy)``; with no chosen token the loss is a graph-
        connected 0 (the official mean over none is NaN) and the accuracy
        None.
    """
    chosen = labels != IGNORE_INDEX
    if not chosen.any():
        return scores.sum() * 0., None
    loss = F.cross_entropy(
        scores.reshape(-1, scores.shape[-1]), labels.reshape(-1))
    acc = (scores[chosen].argmax(-1) == labels[chosen]).float().mean()
    return loss, acc


def matching_loss(scores: torch.Tensor,
                  labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """ITM: ``scores [N, 2]``, ``labels [N]`` (1 matched, 0 not) ->
    ``(mean cross entropy, accuracy)``."""
    loss = F.cross_entropy(scores, labels)
    return loss, (scores.argmax(-1) == labels).float().mean()


def lse_clip_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example loss of the ``lse`` clip aggregation.

    ``log sum_{c,k} exp(l[c, k]) - log sum_c exp(l[c, y])``: the cross
    entropy of the answer ``y`` when the clip scores of each answer are
    pooled by sum-exp.

    Args:
        logits: ``[clips, B, K]`` answer scores of every clip.
        labels: ``[B]`` answer indices in ``[0, K)``.

    Returns:
        ``[B]`` losses.
    """
    per_video = logits.permute(1, 0, 2)  # [B, clips, K]
    total = torch.logsumexp(per_video.reshape(len(per_video), -1), dim=-1)
    answer = torch.logsumexp(per_video, dim=1)  # [B, K]
    return total - answer.gather(1, labels.view(-1, 1)).squeeze(1)
