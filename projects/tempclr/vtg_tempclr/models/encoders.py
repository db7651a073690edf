"""TempCLR's two BERT towers, on ``transformers`` BERT modules.

- :class:`MMBertVideoEncoder`: MMPT's ``MMBertForEncoder`` (``videomlp`` +
  ``bert``), reading ``[CLS] video tokens [SEP]``.
- :class:`BertTextEncoder`: the text tower, a plain BERT (the official one
  is ``transformers.BertModel``).

Both keep the module names of the official models (``embeddings``,
``encoder.layer.{i}``, ``pooler``), so converted official checkpoints load
with nothing missing or left over. The pooler is kept for that reason only:
no TempCLR output reads it.

The layers are ``transformers`` ``BertLayer``\\ s, called with keywords.
The attention masks are MMPT's own (:func:`extended_attention_mask`:
``-10000`` on masked keys, what transformers 3.x used); transformers 4.57's
helpers use ``finfo.min`` instead, which differs on rows whose keys are all
masked. ``attn_implementation`` of the config picks eager or SDPA
attention; both take the additive mask.
"""
import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import (BertEmbeddings,
                                                    BertEncoder, BertPooler)

from .embeddings import MMBertEmbeddings
from .video_token_mlp import VideoTokenMLP

#: MMPT's (and transformers 3.x's) additive value on masked attention keys
MMPT_MASK_VALUE = -10000.0


def extended_attention_mask(mask: torch.Tensor,
                            dtype: torch.dtype) -> torch.Tensor:
    """An additive attention mask: 0 where ``mask`` is set, -10000 elsewhere.

    Args:
        mask: ``[N, L]`` keys to attend to (shared by every query and layer),
            ``[N, L, L]`` (query, key) pairs, or ``[N, layers, L, L]`` one
            pair mask per layer (MMPT's multi-layer masks).
        dtype: dtype of the result.

    Returns:
        ``[N, 1, 1, L]``, ``[N, 1, L, L]`` or ``[N, layers, 1, L, L]``,
        broadcastable over the heads of a layer's attention scores.
    """
    if mask.dim() == 2:
        mask = mask[:, None, None, :]
    elif mask.dim() == 3:
        mask = mask[:, None]
    elif mask.dim() == 4:
        mask = mask[:, :, None]
    else:
        raise ValueError('attention mask must be [N, L], [N, L, L] or '
                         f'[N, layers, L, L], got {list(mask.shape)}')
    return (1.0 - mask.to(dtype)) * MMPT_MASK_VALUE


class BertTower(nn.Module):
    """``embeddings``, ``encoder.layer.{i}`` and ``pooler`` of a BERT.

    Args:
        config (BertConfig): the tower's config (``_attn_implementation``
            set).
        embeddings (nn.Module): the tower's embedding module.
    """

    def __init__(self, config: BertConfig, embeddings: nn.Module) -> None:
        super().__init__()
        self.embeddings = embeddings
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layer)

    def run_layers(self, hidden: torch.Tensor,
                   attention_mask: torch.Tensor) -> torch.Tensor:
        """Run every BERT layer.

        Args:
            hidden: ``[N, L, H]`` embeddings.
            attention_mask: bool / 0-1 mask of :func:`extended_attention_mask`
                (``[N, L]``, ``[N, L, L]`` or ``[N, layers, L, L]``).

        Returns:
            ``[N, L, H]`` hidden states of the last layer.
        """
        dtype = self.embeddings.word_embeddings.weight.dtype
        extended = extended_attention_mask(attention_mask, dtype)
        per_layer = extended.dim() == 5
        if per_layer and extended.shape[1] != self.num_layers:
            raise ValueError(f'a per-layer attention mask has '
                             f'{extended.shape[1]} layers, the tower has '
                             f'{self.num_layers}')
        for i, layer in enumerate(self.encoder.layer):
            layer_mask = extended[:, i] if per_layer else extended
            hidden = layer(hidden, attention_mask=layer_mask)[0]
        return hidden


class MMBertVideoEncoder(nn.Module):
    """MMPT's ``MMBertForEncoder``: video features -> BERT states of
    ``[CLS] v_1 .. v_Lv [SEP]``.

    Args:
        config (BertConfig): the video tower's config (its
            ``num_hidden_layers`` is the number of video layers, 6 in
            TempCLR).
        input_dim (int): video feature size ``D``.
        max_video_len (int): MMPT's ``max_video_len`` (position offset of
            the video ``[SEP]``).
    """

    def __init__(self, config: BertConfig, input_dim: int,
                 max_video_len: int) -> None:
        super().__init__()
        self.videomlp = VideoTokenMLP(input_dim, config.hidden_size,
                                      config.hidden_act)
        self.bert = BertTower(config, MMBertEmbeddings(config, max_video_len))

    def forward(self, vfeats: torch.Tensor, vmasks: torch.Tensor,
                prefix_ids: torch.Tensor,
                prefix_mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            vfeats: ``[N, Lv, D]`` features.
            vmasks: ``[N, Lv]`` bool, valid feature steps.
            prefix_ids: ``[N, 2]`` ids of ``[CLS] [SEP]`` (MMPT passes
                ``caps[:, :2]``).
            prefix_mask: ``[N, 2]`` bool attention on ``[CLS]`` and
                ``[SEP]`` (``cmasks[:, :2]``: ``[1, 1]`` for retrieval,
                ``[0, 1]`` in MMPT's action localisation).

        Returns:
            ``[N, Lv + 2, H]`` last-layer states of ``[CLS] video [SEP]``.
        """
        if prefix_ids.shape[1] != 2 or prefix_mask.shape != prefix_ids.shape:
            raise ValueError('MMBertVideoEncoder expects prefix_ids and '
                             'prefix_mask [N, 2] ([CLS] [SEP]), got '
                             f'{list(prefix_ids.shape)} and '
                             f'{list(prefix_mask.shape)}')
        tokens = self.videomlp(vfeats)
        hidden = self.bert.embeddings(prefix_ids, tokens)
        mask = torch.cat([
            prefix_mask[:, :1].bool(),
            vmasks.bool(), prefix_mask[:, 1:].bool()
        ],
                         dim=1)
        return self.bert.run_layers(hidden, mask)


class BertTextEncoder(BertTower):
    """A plain BERT text tower (``BertModel``'s modules), all-zero token
    types and default positions, as the official ``forward_text`` calls it.

    Args:
        config (BertConfig): the text tower's config.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, BertEmbeddings(config))

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        """``input_ids [N, L]``, ``attention_mask [N, L]`` -> last-layer
        states ``[N, L, H]``."""
        hidden = self.embeddings(
            input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        return self.run_layers(hidden, attention_mask)
