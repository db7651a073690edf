"""TempCLR's (VideoCLIP's) video-text dual encoder (official
``MMFusionSeparate`` trained by ``AlignRetriTask``)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from transformers import BertConfig

from vtg_plugins.registry import MODELS
from .encoders import BertTextEncoder, MMBertVideoEncoder
from .pooling import pool_text_states, pool_video_states, text_tower_inputs
from .trainable import set_trainable
from .weight_loading import (init_bert_weights, load_bert_towers,
                             load_converted_checkpoint)

#: ``bert_config`` keys the towers honour (BERT's architecture)
BERT_CONFIG_KEYS = ('vocab_size', 'hidden_size', 'num_hidden_layers',
                    'num_attention_heads', 'intermediate_size', 'hidden_act',
                    'hidden_dropout_prob', 'attention_probs_dropout_prob',
                    'max_position_embeddings', 'type_vocab_size',
                    'initializer_range', 'layer_norm_eps', 'pad_token_id',
                    'attn_implementation')
#: name prefixes that never train (no output reads the BERT poolers)
POOLER_PREFIXES = ('video_encoder.bert.pooler.', 'text_encoder.pooler.')
#: clip bounds each sample gives the temporal alignment loss
CLIP_BOUNDS = ('text_start', 'text_end', 'video_start', 'video_end')


def bert_configs(bert_config: dict,
                 video_layers: int) -> Tuple[BertConfig, BertConfig]:
    """``(text, video)`` configs from BERT kwargs (defaults are
    ``bert-base-uncased``'s; attention ``'sdpa'`` unless
    ``attn_implementation`` says otherwise); the video tower has
    ``video_layers`` layers."""
    unknown = sorted(set(bert_config) - set(BERT_CONFIG_KEYS))
    if unknown:
        raise ValueError(f'bert_config: unknown keys {unknown}; known: '
                         f'{BERT_CONFIG_KEYS}')
    text = BertConfig(**bert_config)
    if text._attn_implementation is None:
        text._attn_implementation = 'sdpa'
    video = copy.deepcopy(text)
    video.num_hidden_layers = video_layers
    return text, video


def rows_per_sample(samples: Sequence[BaseDataElement], field: str,
                    total: int) -> List[int]:
    """``field`` (``num_video_rows`` / ``num_text_rows``) of every sample,
    1 each when no sample has it; checked to add up to ``total``."""
    counts = [s.get(field) for s in samples]
    if all(c is None for c in counts):
        counts = [1] * len(samples)
    if None in counts or sum(counts) != total:
        raise ValueError(f'the samples claim {counts} {field} but the batch '
                         f'holds {total}')
    return [int(c) for c in counts]


def _cpu_float(x: torch.Tensor) -> torch.Tensor:
    """``x`` detached on the CPU, half precision widened to float32."""
    return x.detach().to(torch.promote_types(x.dtype, torch.float32)).cpu()


@MODELS.register_module()
class TempCLRDualEncoder(BaseModel):
    """Video tower (``MMBertForEncoder``: VideoTokenMLP + BERT) and text
    tower (BERT), mean-pooled into one space (raw dot products).

    Args:
        bert_config (dict): ``BertConfig`` kwargs of the text tower (keys of
            :data:`BERT_CONFIG_KEYS`; TempCLR uses ``bert-base-uncased``:
            ``dict()``). ``attn_implementation='eager'`` gives the official
            (transformers 3.x) attention exactly; the default is SDPA.
        video_layers (int): BERT layers of the video tower (6).
        input_dim (int): video feature size (512).
        max_video_len (int): MMPT's ``max_video_len`` (32).
        contrastive_loss (dict, optional): config of the contrastive loss
            ``(video [N, H], text [N, H]) -> scalar``; None only for
            subclasses with a loss of their own.
        alignment_loss (dict, optional): config of the temporal alignment
            loss (``TemporalAlignmentLoss``); None trains VideoCLIP's
            contrastive loss alone (``alignment_loss_weight`` unused).
        alignment_loss_weight (float): ``w`` of ``(1 - w) * contrastive +
            w * alignment`` (official ``alignment_loss_coeff``, 0.7).
        trainable (str): ``'layernorm'`` (official ``layernorm_only``) or
            ``'all'`` (see :mod:`.trainable`; the poolers never train).
        cls_token_id (int): ``[CLS]`` id (``bert-base-uncased``: 101).
        sep_token_id (int): ``[SEP]`` id (102). The video tower reads
            ``[CLS] video [SEP]`` whatever the caption rows hold.
        bert_checkpoint (str, optional): local HF BERT weights (a
            ``pytorch_model.bin`` / ``model.safetensors`` or a directory
            with one) loaded into both towers by :meth:`init_weights`.
        data_preprocessor (dict): default ``TempCLRDataPreprocessor``.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=...)``, a converted checkpoint loaded strictly by
            :meth:`init_weights` (after ``bert_checkpoint``).

    Inputs: ``vfeats [Nv, Lv, D]``, ``vmasks [Nv, Lv]``, ``caps [Nt, Lt]``,
    ``cmasks [Nt, Lt]`` (see ``vtg_tempclr.datasets.packing``).
    ``loss`` needs ``Nv == Nt`` (row ``i`` of each is a pair) and, with an
    alignment loss, ``text_start/text_end/video_start/video_end`` ``[C]``
    on every sample (one sample per video, ``C`` its rows); it returns the
    weighted terms ``loss_contrastive = (1 - w) * contrastive`` and
    ``loss_alignment = w * alignment``, whose sum is the official loss.
    ``predict`` sets ``video_feature`` / ``text_feature`` ``[H]`` (CPU) on
    each sample from its row (a sample owns at most one row of each).
    ``mode='tensor'`` returns :meth:`tensor_outputs`.
    """

    def __init__(self,
                 bert_config: dict,
                 video_layers: int = 6,
                 input_dim: int = 512,
                 max_video_len: int = 32,
                 contrastive_loss: Optional[dict] = dict(
                     type='SymmetricContrastiveLoss'),
                 alignment_loss: Optional[dict] = None,
                 alignment_loss_weight: float = 0.7,
                 trainable: str = 'layernorm',
                 cls_token_id: int = 101,
                 sep_token_id: int = 102,
                 bert_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = dict(
                     type='TempCLRDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._check_init_cfg(init_cfg)
        text_config, video_config = bert_configs(bert_config, video_layers)
        for name, token in (('cls_token_id', cls_token_id), ('sep_token_id',
                                                             sep_token_id)):
            if not 0 <= token < text_config.vocab_size:
                raise ValueError(f'{name}={token} is outside the vocabulary '
                                 f'of {text_config.vocab_size}')
        if not 0 <= alignment_loss_weight <= 1:
            raise ValueError('alignment_loss_weight must be in [0, 1], got '
                             f'{alignment_loss_weight}')
        self.bert_config = text_config
        self.cls_token_id, self.sep_token_id = cls_token_id, sep_token_id
        self.bert_checkpoint = bert_checkpoint
        self.video_encoder = MMBertVideoEncoder(video_config, input_dim,
                                                max_video_len)
        self.text_encoder = BertTextEncoder(text_config)
        init_bert_weights(self.video_encoder, text_config.initializer_range)
        init_bert_weights(self.text_encoder, text_config.initializer_range)
        self.contrastive_loss = MODELS.build(
            contrastive_loss) if contrastive_loss else None
        self.alignment_loss = MODELS.build(
            alignment_loss) if alignment_loss else None
        self.alignment_loss_weight = alignment_loss_weight
        set_trainable(self, trainable, frozen=POOLER_PREFIXES)

    @staticmethod
    def _check_init_cfg(init_cfg: Optional[dict]) -> None:
        if init_cfg is None:
            return
        if not (isinstance(init_cfg, dict) and init_cfg.get('type')
                == 'Pretrained' and init_cfg.get('checkpoint')):
            raise ValueError('init_cfg must be None or dict(type='
                             f"'Pretrained', checkpoint=...), got {init_cfg}")

    def init_weights(self) -> None:
        """Load ``bert_checkpoint`` into both towers, then the converted
        ``init_cfg`` checkpoint into the whole model (both strictly); the
        BERT initialisation was applied at construction."""
        if self.bert_checkpoint is not None:
            load_bert_towers(self.video_encoder.bert, self.text_encoder,
                             self.bert_checkpoint)
        if self.init_cfg is not None:
            load_converted_checkpoint(self, self.init_cfg['checkpoint'])
        self._is_init = True

    # --- the towers ----------------------------------------------------------
    def video_states(self,
                     vfeats: torch.Tensor,
                     vmasks: torch.Tensor,
                     attend_cls: bool = True) -> torch.Tensor:
        """``vfeats [N, Lv, D]``, ``vmasks [N, Lv]`` -> states ``[N, Lv + 2,
        H]`` of ``[CLS] video [SEP]``; ``attend_cls=False`` masks ``[CLS]``
        out of the attention (MMPT's action localisation)."""
        if vfeats.dim() != 3 or vmasks.shape != vfeats.shape[:2]:
            raise ValueError('expected vfeats [N, Lv, D] and vmasks [N, Lv], '
                             f'got {list(vfeats.shape)} and '
                             f'{list(vmasks.shape)}')
        num = len(vfeats)
        prefix_ids = torch.tensor([self.cls_token_id, self.sep_token_id],
                                  device=vfeats.device).expand(num, 2)
        prefix_mask = torch.tensor([attend_cls, True],
                                   device=vfeats.device).expand(num, 2)
        return self.video_encoder(vfeats, vmasks, prefix_ids, prefix_mask)

    def video_token_states(self, vfeats: torch.Tensor,
                           vmasks: torch.Tensor) -> torch.Tensor:
        """``vfeats [N, Lv, D]``, ``vmasks [N, Lv]`` -> the states of the
        video tokens ``[N, Lv, H]``."""
        return self.video_states(vfeats, vmasks)[:, 1:vfeats.shape[1] + 1]

    def encode_video(self, vfeats: torch.Tensor,
                     vmasks: torch.Tensor) -> torch.Tensor:
        """``vfeats [N, Lv, D]``, ``vmasks [N, Lv]`` -> ``pooled_video [N,
        H]`` (official ``forward_video``)."""
        return pool_video_states(self.video_states(vfeats, vmasks), vmasks)

    def encode_text(self, caps: torch.Tensor,
                    cmasks: torch.Tensor) -> torch.Tensor:
        """``caps``, ``cmasks [N, Lt]`` -> ``pooled_text [N, H]`` (official
        ``forward_text``)."""
        input_ids, attention_mask = text_tower_inputs(caps, cmasks)
        states = self.text_encoder(input_ids, attention_mask)
        return pool_text_states(states, cmasks)

    # --- BaseModel -----------------------------------------------------------
    def forward(self,
                inputs: Dict[str, torch.Tensor],
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.tensor_outputs(inputs, data_samples)
        raise ValueError(f'{type(self).__name__}: unknown mode {mode!r}')

    def tensor_outputs(
        self,
        inputs: Dict[str, torch.Tensor],
        data_samples: Optional[List[BaseDataElement]] = None
    ) -> Dict[str, torch.Tensor]:
        """``dict(pooled_video [Nv, H], pooled_text [Nt, H])``."""
        return dict(
            pooled_video=self.encode_video(inputs['vfeats'], inputs['vmasks']),
            pooled_text=self.encode_text(inputs['caps'], inputs['cmasks']))

    def loss(self, inputs: Dict[str, torch.Tensor],
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """The weighted contrastive and alignment terms (see the class
        doc)."""
        if self.contrastive_loss is None:
            raise ValueError(f'{type(self).__name__}.loss needs a '
                             'contrastive_loss')
        video = self.encode_video(inputs['vfeats'], inputs['vmasks'])
        text = self.encode_text(inputs['caps'], inputs['cmasks'])
        if len(video) != len(text):
            raise ValueError(f'training pairs video and caption rows, got '
                             f'{len(video)} video and {len(text)} caption '
                             'rows')
        contrastive = self.contrastive_loss(video, text)
        if self.alignment_loss is None:
            return dict(loss_contrastive=contrastive)
        bounds = self._clip_bounds(data_samples, len(video), video.device)
        alignment = self.alignment_loss(video, text, *bounds)
        w = self.alignment_loss_weight
        return dict(
            loss_contrastive=(1 - w) * contrastive,
            loss_alignment=w * alignment)

    @staticmethod
    def _clip_bounds(samples: List[BaseDataElement], num_rows: int,
                     device: torch.device) -> List[torch.Tensor]:
        """``text_start, text_end, video_start, video_end`` ``[num_rows]``
        from the samples (one per video), in row order."""
        counts = rows_per_sample(samples, 'num_video_rows', num_rows)
        bounds = []
        for field in CLIP_BOUNDS:
            parts = []
            for i, (sample, count) in enumerate(zip(samples, counts)):
                if field not in sample:
                    raise ValueError(f'sample {i} has no {field!r} (the '
                                     'alignment loss needs clip bounds)')
                value = torch.as_tensor(sample.get(field)).reshape(-1)
                if len(value) != count:
                    raise ValueError(f'sample {i}: {field} has {len(value)} '
                                     f'entries for {count} rows')
                parts.append(value.to(device))
            bounds.append(torch.cat(parts))
        return bounds

    def predict(self, inputs: Dict[str, torch.Tensor],
                data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
        """Set ``video_feature`` and ``text_feature`` ``[H]`` on each
        sample that owns such a row."""
        video = self.encode_video(inputs['vfeats'], inputs['vmasks'])
        text = self.encode_text(inputs['caps'], inputs['cmasks'])
        for field, rows, key in (('num_video_rows', video, 'video_feature'),
                                 ('num_text_rows', text, 'text_feature')):
            counts = rows_per_sample(data_samples, field, len(rows))
            if max(counts, default=0) > 1:
                raise ValueError(f'predict gives one {key} per sample, but '
                                 f'samples own {counts} {field}')
            row = 0
            for sample, count in zip(data_samples, counts):
                if count:
                    sample.set_field(_cpu_float(rows[row]), key)
                    row += 1
        return data_samples
