"""HD-VILA's BERT (official ``modeling_stage.py: HDVILABaseModel``) on
``transformers`` BERT modules.

One BERT of ``n`` layers (BERT-large: 24) is split in two: layers
``0 .. n//2 - 1`` encode the text alone (official ``forward_stage1``), the
remaining layers read the text states followed by the visual tokens
(``forward_stage2``). Module names are the official ones (``embeddings``,
``encoder.layer.{i}``, ``pooler1`` for the text, ``visual_embeddings`` and
``pooler2`` for the cross-modal part), so official ``transformer.bert.*``
weights load unchanged. A text-only BERT (stage 1, retrieval) holds the
first ``n//2`` layers only, as the official stage-1 model does.

The layers are ``transformers`` ``BertLayer``\\ s called with keywords; the
attention mask is the official additive one (``-10000`` on masked keys,
transformers 3.x); 4.57's helpers put ``finfo.min`` there, which differs
only on fully masked rows. ``attn_implementation`` of the config picks
eager (exact official arithmetic) or SDPA attention.
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import (BertEmbeddings,
                                                    BertEncoder, BertPooler)

from .visual_embedding import VisualInputEmbedding

#: official additive value on masked attention keys (transformers 3.x)
MASK_VALUE = -10000.0
#: official ``base_model_large.json`` where it differs from ``BertConfig()``
BERT_LARGE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096)
#: HD-VILA's grid position tables (official model config)
GRID_POSITIONS = dict(
    max_grid_row_position_embeddings=100, max_grid_col_position_embeddings=100)
#: ``bert_config`` keys the models honour
BERT_CONFIG_KEYS = ('vocab_size', 'hidden_size', 'num_hidden_layers',
                    'num_attention_heads', 'intermediate_size', 'hidden_act',
                    'hidden_dropout_prob', 'attention_probs_dropout_prob',
                    'max_position_embeddings', 'type_vocab_size',
                    'initializer_range', 'layer_norm_eps', 'pad_token_id',
                    'attn_implementation') + tuple(GRID_POSITIONS)


def build_bert_config(bert_config: dict) -> BertConfig:
    """A ``BertConfig`` from HD-VILA's model config keys.

    Keys not given keep BERT-large's values (:data:`BERT_LARGE` over
    ``BertConfig()``'s, and :data:`GRID_POSITIONS`); the attention is SDPA
    unless ``attn_implementation`` says ``'eager'``.

    Raises:
        ValueError: an unknown key, or fewer than 2 layers.
    """
    unknown = sorted(set(bert_config) - set(BERT_CONFIG_KEYS))
    if unknown:
        raise ValueError(f'bert_config: unknown keys {unknown}; known: '
                         f'{BERT_CONFIG_KEYS}')
    config = BertConfig(**{**BERT_LARGE, **GRID_POSITIONS, **bert_config})
    if config.num_hidden_layers < 2:
        raise ValueError('bert_config: HD-VILA splits its BERT into text and '
                         'cross-modal layers, so num_hidden_layers must be '
                         f'>= 2, got {config.num_hidden_layers}')
    if config._attn_implementation is None:
        config._attn_implementation = 'sdpa'
    return config


def extended_attention_mask(mask: torch.Tensor,
                            dtype: torch.dtype) -> torch.Tensor:
    """``[N, L]`` 0/1 keys to attend -> additive ``[N, 1, 1, L]`` mask
    (0 kept, -10000 masked)."""
    if mask.dim() != 2:
        raise ValueError(f'attention mask must be [N, L], got '
                         f'{list(mask.shape)}')
    return (1.0 - mask[:, None, None, :].to(dtype)) * MASK_VALUE


def init_bert_weights(module: nn.Module, std: float) -> None:
    """BERT's init on every submodule (the official ``_init_weights``):
    Linear and Embedding weights ``N(0, std)``, biases 0, LayerNorm 1 / 0
    (the padding row of an embedding is zeroed, as transformers 4.x
    does)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def freeze(*modules: nn.Module) -> None:
    """Stop gradients to every parameter of ``modules``."""
    for module in modules:
        for param in module.parameters():
            param.requires_grad = False


class HDVILABert(nn.Module):
    """The official ``HDVILABaseModel``: text layers, then (optionally)
    cross-modal layers over text states + visual tokens.

    Args:
        config (BertConfig): from :func:`build_bert_config`.
        cross_modal (bool): build the cross-modal half (``visual_embeddings``,
            layers ``n//2 ..``, ``pooler2``); False builds the text half only
            (official stage 1).
        text_pooler (bool): build ``pooler1`` (read by the text features of
            the dual encoder; the QA / MC heads never read it).
        pixel_random_sampling_size (int): see :class:`VisualInputEmbedding`.
        frozen_layers (int | Sequence[int]): official ``bert_frozen_stage``:
            an int ``k`` freezes layers ``0 .. k`` (-1: none), a list freezes
            those layers.
    """

    def __init__(self,
                 config: BertConfig,
                 cross_modal: bool,
                 text_pooler: bool = True,
                 pixel_random_sampling_size: int = 0,
                 frozen_layers: Union[int, Sequence[int]] = -1) -> None:
        super().__init__()
        self.num_text_layers = config.num_hidden_layers // 2
        layers = config
        if not cross_modal:
            layers = copy.deepcopy(config)
            layers.num_hidden_layers = self.num_text_layers
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(layers)
        if text_pooler:
            self.pooler1 = BertPooler(config)
        if cross_modal:
            self.visual_embeddings = VisualInputEmbedding(
                config.hidden_size, config.max_grid_row_position_embeddings,
                config.max_grid_col_position_embeddings, config.layer_norm_eps,
                config.hidden_dropout_prob, pixel_random_sampling_size)
            self.pooler2 = BertPooler(config)
        self._freeze_layers(frozen_layers)

    def _freeze_layers(self, spec: Union[int, Sequence[int]]) -> None:
        num = len(self.encoder.layer)
        ids = list(range(spec + 1)) if isinstance(spec, int) else list(spec)
        bad = [i for i in ids if not 0 <= i < num]
        if bad:
            raise ValueError(f'bert_frozen_stage names layers {bad} of a '
                             f'BERT with {num} layers')
        freeze(*(self.encoder.layer[i] for i in ids))

    @property
    def text_layers(self) -> nn.ModuleList:
        """Layers ``0 .. n//2 - 1`` (official stage 1)."""
        return self.encoder.layer[:self.num_text_layers]

    @property
    def cross_modal_layers(self) -> nn.ModuleList:
        """Layers ``n//2 .. n - 1`` (official stage 2)."""
        return self.encoder.layer[self.num_text_layers:]

    def _run(self, hidden: torch.Tensor, mask: torch.Tensor,
             layers: nn.ModuleList) -> torch.Tensor:
        extended = extended_attention_mask(mask, hidden.dtype)
        for layer in layers:
            hidden = layer(hidden, attention_mask=extended)[0]
        return hidden

    def encode_text(self, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor) -> torch.Tensor:
        """``input_ids``, ``attention_mask [N, L]`` -> text states
        ``[N, L, H]`` of the text layers (all-zero token types, default
        positions)."""
        hidden = self.embeddings(
            input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
        return self._run(hidden, attention_mask, self.text_layers)

    def pool_text(self, states: torch.Tensor, attention_mask: torch.Tensor,
                  mean: bool) -> torch.Tensor:
        """``pooler1`` on the text states ``[N, L, H]`` -> ``[N, H]``.

        ``mean=False`` pools ``[CLS]``; ``mean=True`` is the official
        ``bert_mean``: ``tanh(dense(.))`` of the mean over the attended
        tokens.
        """
        if not mean:
            return self.pooler1(states)
        weights = attention_mask.unsqueeze(-1)
        avg = (states * weights).sum(1) / attention_mask.sum(1, keepdim=True)
        return self.pooler1.activation(self.pooler1.dense(avg))

    def cross_modal(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        grid: torch.Tensor,
        generator: Optional[torch.Generator] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cross-modal layers over ``[text; visual tokens]``.

        Args:
            text_states: ``[N, Lt, H]`` from :meth:`encode_text`.
            text_mask: ``[N, Lt]``.
            grid: ``[N, h, w, H]`` one grid per text row.
            generator: see :class:`VisualInputEmbedding`.

        Returns:
            ``states [N, Lt + Lv, H]`` and ``pooled [N, H]`` (``pooler2`` on
            the first text token).
        """
        visual = self.visual_embeddings(grid, generator)
        mask = torch.cat(
            [text_mask, text_mask.new_ones(visual.shape[:2])], dim=1)
        hidden = torch.cat([text_states, visual], dim=1)
        states = self._run(hidden, mask, self.cross_modal_layers)
        return states, self.pooler2(states)

    def cross_modal_clips(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        grid: torch.Tensor,
        generator: Optional[torch.Generator] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`cross_modal` of every text row with every clip of its
        video, as the official downstream heads batch it.

        Text row ``t`` belongs to video ``t // K`` (``K = T / B`` rows per
        video: 1 for a caption or question, the options for multiple
        choice).

        Args:
            text_states: ``[T, Lt, H]``.
            text_mask: ``[T, Lt]``.
            grid: ``[clips, B, h, w, H]``.
            generator: see :class:`VisualInputEmbedding`.

        Returns:
            ``states [clips, T, Lt + Lv, H]``, ``pooled [clips, T, H]``.
        """
        clips, videos = grid.shape[:2]
        rows = text_states.shape[0]
        if rows % videos:
            raise ValueError(f'{rows} text rows cannot be split evenly over '
                             f'{videos} videos')
        grid = grid.repeat_interleave(rows // videos, dim=1)
        states, pooled = self.cross_modal(
            text_states.repeat(clips, 1, 1), text_mask.repeat(clips, 1),
            grid.reshape(clips * rows, *grid.shape[2:]), generator)
        return (states.view(clips, rows,
                            *states.shape[1:]), pooled.view(clips, rows, -1))
