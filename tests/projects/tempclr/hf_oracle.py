"""Test helpers independent of ``vtg_tempclr``'s modules.

- :func:`official_state_dict`: random weights under the official TempCLR
  key names (``MMFusionSeparate`` behind fairseq's ``mmmodel.``), written
  from the official module tree (``MMBertForEncoder``: ``videomlp`` +
  ``bert``; ``BertModel`` text encoder; transformers 3.x names, which saved
  ``embeddings.position_ids``).
- :func:`oracle_forward`: the official ``forward_video`` / ``forward_text``
  on plain ``transformers.BertModel``\\ s (``inputs_embeds`` with the video
  tokens spliced after ``[CLS]``, explicit MMPT position ids, 2-D masks),
  the VideoTokenMLP and the pooling written out by hand.

Test modules load this file by path (the tests are not a package).
"""
from typing import Dict

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

PREFIX = 'mmmodel.'
VIDEO_MLP = [
    'linear1.weight', 'linear1.bias', 'LayerNorm.weight', 'LayerNorm.bias',
    'linear2.weight', 'linear2.bias'
]
EMBEDDINGS = [
    'word_embeddings.weight', 'position_embeddings.weight',
    'token_type_embeddings.weight', 'LayerNorm.weight', 'LayerNorm.bias'
]
SELF_ATTENTION = [
    'query.weight', 'query.bias', 'key.weight', 'key.bias', 'value.weight',
    'value.bias'
]
ATTENTION_OUTPUT = [
    'dense.weight', 'dense.bias', 'LayerNorm.weight', 'LayerNorm.bias'
]
INTERMEDIATE = ['dense.weight', 'dense.bias']
OUTPUT = ['dense.weight', 'dense.bias', 'LayerNorm.weight', 'LayerNorm.bias']
POOLER = ['dense.weight', 'dense.bias']


def official_shapes(hidden: int, intermediate: int, vocab: int,
                    max_positions: int, type_vocab: int, input_dim: int,
                    video_layers: int, text_layers: int) -> Dict[str, tuple]:
    """Official key (with ``mmmodel.``) -> shape."""
    h, i = hidden, intermediate

    def vector_or_matrix(name, rows, cols):
        return (rows, cols) if name.endswith('weight') else (rows, )

    shapes = {}
    for name in VIDEO_MLP:
        cols = input_dim if name.startswith('linear1') else h
        shape = (h, ) if name.startswith('LayerNorm') else \
            vector_or_matrix(name, h, cols)
        shapes[f'{PREFIX}video_encoder.videomlp.{name}'] = shape
    for tower, layers in (('video_encoder.bert.', video_layers),
                          ('text_encoder.', text_layers)):
        rows = dict(
            word_embeddings=vocab,
            position_embeddings=max_positions,
            token_type_embeddings=type_vocab)
        for name in EMBEDDINGS:
            module = name.split('.')[0]
            shapes[f'{PREFIX}{tower}embeddings.{name}'] = ((rows[module], h) if
                                                           module in rows else
                                                           (h, ))
        for layer in range(layers):
            base = f'{PREFIX}{tower}encoder.layer.{layer}.'
            for name in SELF_ATTENTION:
                shapes[base + 'attention.self.' + name] = vector_or_matrix(
                    name, h, h)
            for name in ATTENTION_OUTPUT:
                shapes[base + 'attention.output.' +
                       name] = ((h, ) if 'LayerNorm' in name else
                                vector_or_matrix(name, h, h))
            for name in INTERMEDIATE:
                shapes[base + 'intermediate.' + name] = vector_or_matrix(
                    name, i, h)
            for name in OUTPUT:
                shapes[base + 'output.' +
                       name] = ((h, ) if 'LayerNorm' in name else
                                vector_or_matrix(name, h, i))
        for name in POOLER:
            shapes[f'{PREFIX}{tower}pooler.{name}'] = vector_or_matrix(
                name, h, h)
    return shapes


def official_state_dict(
        bert: dict,
        video_layers: int,
        input_dim: int,
        position_ids: bool = True,
        seed: int = 0,
        dtype: torch.dtype = torch.float32) -> Dict[str, torch.Tensor]:
    """Random official weights for the sizes of a ``BertConfig`` kwargs
    dict (``num_hidden_layers`` = text layers); LayerNorm weights around 1,
    everything else ``N(0, 0.2)``; ``position_ids`` buffers as 3.x saved."""
    config = BertConfig(**bert)
    shapes = official_shapes(config.hidden_size, config.intermediate_size,
                             config.vocab_size, config.max_position_embeddings,
                             config.type_vocab_size, input_dim, video_layers,
                             config.num_hidden_layers)
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in shapes.items():
        value = 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)
        if 'LayerNorm.weight' in key:
            value = 1 + value
        sd[key] = value.to(dtype)
    if position_ids:
        for tower in ('video_encoder.bert.', 'text_encoder.'):
            sd[f'{PREFIX}{tower}embeddings.position_ids'] = torch.arange(
                config.max_position_embeddings)[None]
    return sd


def _hf_bert(sd: Dict[str, torch.Tensor], prefix: str, bert: dict, layers: int,
             dtype: torch.dtype) -> BertModel:
    config = BertConfig(
        **dict(bert, num_hidden_layers=layers), attn_implementation='eager')
    model = BertModel(config).to(dtype).eval()
    weights = {
        k[len(prefix):]: v
        for k, v in sd.items()
        if k.startswith(prefix) and not k.endswith('position_ids')
    }
    model.load_state_dict(weights, strict=True)
    return model


def oracle_forward(official: Dict[str, torch.Tensor],
                   bert: dict,
                   video_layers: int,
                   max_video_len: int,
                   inputs: dict,
                   dtype: torch.dtype = torch.float64) -> dict:
    """The official ``MMFusionSeparate`` outputs on HF ``BertModel``\\ s.

    Args:
        official: :func:`official_state_dict` weights.
        bert: ``BertConfig`` kwargs (text tower).
        video_layers, max_video_len: MMPT's sizes.
        inputs: ``vfeats, vmasks, caps, cmasks``; the video tower reads
            ``caps[:, :2]`` / ``cmasks[:, :2]``.

    Returns:
        ``pooled_video [N, H]``, ``pooled_text [N, H]``, ``video_states
        [N, Lv + 2, H]``, ``text_states [N, Lt - 1, H]``.
    """
    sd = {
        k[len(PREFIX):] if k.startswith(PREFIX) else k:
        v.to(dtype) if v.is_floating_point() else v
        for k, v in official.items()
    }
    video_bert = _hf_bert(sd, 'video_encoder.bert.', bert, video_layers, dtype)
    text_bert = _hf_bert(sd, 'text_encoder.', bert, bert['num_hidden_layers'],
                         dtype)
    mlp = {n: sd['video_encoder.videomlp.' + n] for n in VIDEO_MLP}
    vfeats = inputs['vfeats'].to(dtype)
    vmasks, caps, cmasks = inputs['vmasks'], inputs['caps'], inputs['cmasks']
    with torch.no_grad():
        hidden = F.gelu(
            F.linear(vfeats, mlp['linear1.weight'], mlp['linear1.bias']))
        hidden = F.layer_norm(
            hidden,
            hidden.shape[-1:],
            mlp['LayerNorm.weight'],
            mlp['LayerNorm.bias'],
            eps=1e-5)
        video_tokens = F.linear(hidden, mlp['linear2.weight'],
                                mlp['linear2.bias'])
        words = video_bert.embeddings.word_embeddings(caps[:, :2])
        embeds = torch.cat([words[:, :1], video_tokens, words[:, 1:]], 1)
        num, num_video = vfeats.shape[:2]
        positions = list(range(num_video + 1)) + [max_video_len + 1]
        video_mask = torch.cat([cmasks[:, :1], vmasks, cmasks[:, 1:2]], 1)
        video_states = video_bert(
            inputs_embeds=embeds,
            attention_mask=video_mask.long(),
            token_type_ids=torch.zeros(video_mask.shape, dtype=torch.long),
            position_ids=torch.tensor([positions] * num)).last_hidden_state
        pool_mask = torch.cat(
            [vmasks, torch.ones(num, 1, dtype=torch.bool)], 1).to(dtype)
        pooled_video = (video_states[:, 1:] *
                        pool_mask[..., None]).sum(1) / pool_mask.sum(
                            1, keepdim=True)

        ids = torch.cat([caps[:, :1], caps[:, 2:]], 1)
        text_mask = torch.cat([cmasks[:, :1], cmasks[:, 2:]], 1)
        text_states = text_bert(
            input_ids=ids,
            attention_mask=text_mask.long(),
            token_type_ids=torch.zeros_like(ids)).last_hidden_state
        words_mask = cmasks[:, 2:].to(dtype)
        pooled_text = (text_states[:, 1:] *
                       words_mask[..., None]).sum(1) / words_mask.sum(
                           1, keepdim=True)
    return dict(
        pooled_video=pooled_video,
        pooled_text=pooled_text,
        video_states=video_states,
        text_states=text_states)


def random_inputs(num: int,
                  num_video: int,
                  input_dim: int,
                  caption_len: int,
                  cls_id: int,
                  sep_id: int,
                  vocab: int,
                  seed: int = 0) -> dict:
    """Rows in MMPT's layout: video rows of ``num_video - r`` valid steps
    (row ``r``, at least 1), captions ``[CLS] [SEP] words [SEP] [PAD]..``
    of ``1 + r % (caption_len - 3)`` words."""
    gen = torch.Generator().manual_seed(seed)
    vfeats = torch.randn(num, num_video, input_dim, generator=gen)
    vmasks = torch.zeros(num, num_video, dtype=torch.bool)
    caps = torch.zeros(num, caption_len, dtype=torch.long)
    for r in range(num):
        vmasks[r, :max(1, num_video - r)] = True
        words = torch.randint(
            5, vocab, (1 + r % (caption_len - 3), ), generator=gen)
        row = [cls_id, sep_id] + words.tolist() + [sep_id]
        caps[r, :len(row)] = torch.tensor(row)
    return dict(vfeats=vfeats, vmasks=vmasks, caps=caps, cmasks=caps != 0)
