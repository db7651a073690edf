"""Official-layout HD-VILA checkpoints for the converter tests, made from
our tiny models without the converter.

The official key names are written out here from the official source
(``src/modeling/e2e_model.py: HDVILA``, ``resnet_mmdetection.py``,
``timesformer.py``, ``modeling_stage.py``, ``Transformers.py``), one list
per official model class; values come from our model by the plain name
correspondence (official ``cnn.X`` is our ``video_encoder.cnn.X``,
``transformer.X`` is ``transformer.X``), official tensors our models do not
hold are random. The official ``BertEncoder`` of a stage-1 model
(``HDVILA(..., stage=1)``: stage-1 pre-training, retrieval, MSRVTT-MC)
builds the first ``num_hidden_layers / 2`` layers only, so stage-1 files
hold those. Loaded by the tests with ``importlib`` (pytest runs in
importlib mode).
"""
from typing import Dict, List, Optional

import torch
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS

#: the tiny real video encoder: ResNet-18 branches, one TimeSformer block;
#: 64x128 keyframes and 16x32 frames give 1x2 grids
ENCODER = dict(
    type='HDVILAVideoEncoder',
    hidden_size=16,
    resnet_depth=18,
    timesformer_depth=1,
    timesformer_heads=2,
    num_frames=3,
    grid_size=(1, 2),
    fused_attn=False)
#: official model class -> our models a checkpoint of it converts to 1:1
FLAVOUR_TARGETS = dict(
    stage1=('stage1', 'retrieval', 'msrvtt_mc'),
    stage2=('stage2', ),
    qa=('qa', ),
    mc=('mc', ))
TYPES = dict(
    stage1='HDVILAPretrainStage1',
    stage2='HDVILAPretrainStage2',
    retrieval='HDVILARetrieval',
    qa='HDVILAVideoQA',
    mc='HDVILAMultipleChoice',
    msrvtt_mc='HDVILARetrievalMultipleChoice')
NUM_LABELS = 5

_BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_BERT_LAYER = ('attention.self.query.weight', 'attention.self.query.bias',
               'attention.self.key.weight', 'attention.self.key.bias',
               'attention.self.value.weight', 'attention.self.value.bias',
               'attention.output.dense.weight', 'attention.output.dense.bias',
               'attention.output.LayerNorm.weight',
               'attention.output.LayerNorm.bias', 'intermediate.dense.weight',
               'intermediate.dense.bias', 'output.dense.weight',
               'output.dense.bias', 'output.LayerNorm.weight',
               'output.LayerNorm.bias')
_TIMESFORMER_BLOCK = ('norm1.weight', 'norm1.bias', 'attn.qkv.weight',
                      'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
                      'temporal_norm1.weight', 'temporal_norm1.bias',
                      'temporal_attn.qkv.weight', 'temporal_attn.qkv.bias',
                      'temporal_attn.proj.weight', 'temporal_attn.proj.bias',
                      'temporal_fc.weight', 'temporal_fc.bias', 'norm2.weight',
                      'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias',
                      'mlp.fc2.weight', 'mlp.fc2.bias')


def resnet_keys(depth: int = 18) -> List[str]:
    """mmdetection ResNet (``style='pytorch'``, 4 stages) names."""
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    convs = 2 if depth < 50 else 3
    keys = ['conv1.weight'] + [f'bn1.{b}' for b in _BN]
    for stage, count in enumerate(blocks, 1):
        for j in range(count):
            prefix = f'layer{stage}.{j}.'
            for k in range(1, convs + 1):
                keys += [f'{prefix}conv{k}.weight']
                keys += [f'{prefix}bn{k}.{b}' for b in _BN]
            # the first block of a stage changes stride or width, except
            # stage 1 of a BasicBlock net (64 -> 64 at stride 1)
            if j == 0 and (stage > 1 or convs == 3):
                keys += [f'{prefix}downsample.0.weight']
                keys += [f'{prefix}downsample.1.{b}' for b in _BN]
    return keys


def timesformer_keys(depth: int) -> List[str]:
    """``TimeSformer`` (divided space-time) names, ``norm`` included."""
    keys = ['pos_embed', 'time_embed']
    for i in range(depth):
        keys += [f'blocks.{i}.{k}' for k in _TIMESFORMER_BLOCK]
    return keys + ['norm.weight', 'norm.bias']


def video_keys(depth: int = 18, timesformer_depth: int = 1) -> List[str]:
    """``HDVILA``'s video modules; ``cnn_low`` is a full ResNet too."""
    keys = [f'cnn.{k}' for k in resnet_keys(depth)]
    keys += [f'cnn_low.{k}' for k in resnet_keys(depth)]
    keys += ['grid_encoder.0.weight', 'grid_encoder_low.0.weight']
    keys += [f'timesformer.{k}' for k in timesformer_keys(timesformer_depth)]
    return keys + ['grid_encoder_combine.0.weight']


def bert_keys(layers: int, cross_modal: bool) -> List[str]:
    """``HDVILABaseModel`` names (``transformer.bert.``) with ``layers``
    encoder layers (the stage-1 model builds half the BERT's);
    ``pooler1`` always, ``visual_embeddings`` / ``pooler2`` for
    ``cross_modal`` (stage 2)."""
    keys = [
        f'embeddings.{k}'
        for k in ('word_embeddings.weight', 'position_embeddings.weight',
                  'token_type_embeddings.weight', 'LayerNorm.weight',
                  'LayerNorm.bias')
    ]
    keys += [
        f'encoder.layer.{i}.{k}' for i in range(layers) for k in _BERT_LAYER
    ]
    keys += ['pooler1.dense.weight', 'pooler1.dense.bias']
    if cross_modal:
        keys += [
            f'visual_embeddings.{k}'
            for k in ('position_embeddings.weight',
                      'row_position_embeddings.weight',
                      'col_position_embeddings.weight',
                      'token_type_embeddings.weight', 'LayerNorm.weight',
                      'LayerNorm.bias')
        ]
        keys += ['pooler2.dense.weight', 'pooler2.dense.bias']
    return [f'transformer.bert.{k}' for k in keys]


CLS_KEYS = [
    'transformer.cls.predictions.bias',
    'transformer.cls.predictions.transform.dense.weight',
    'transformer.cls.predictions.transform.dense.bias',
    'transformer.cls.predictions.transform.LayerNorm.weight',
    'transformer.cls.predictions.transform.LayerNorm.bias',
    'transformer.cls.predictions.decoder.weight',
    'transformer.cls.predictions.decoder.bias',
    'transformer.cls.seq_relationship.weight',
    'transformer.cls.seq_relationship.bias'
]
PROJ_KEYS = [
    f'transformer.{p}.{w}' for p in ('t_proj', 'v_proj')
    for w in ('weight', 'bias')
]
CLASSIFIER_KEYS = [
    f'transformer.classifier.{i}.{w}' for i in (0, 2)
    for w in ('weight', 'bias')
]


def official_keys(flavour: str, layers: int) -> List[str]:
    """Every key of an official checkpoint of ``flavour`` with a
    ``layers``-layer BERT (``stage1``: ``HDVILA(stage=1)`` +
    ``HDVILAForPreTraining``, layers ``0 .. layers/2-1`` only; ``stage2``;
    ``qa``: ``HDVILAForSequenceClassification``; ``mc``:
    ``HDVILAForMultipleChoice``)."""
    keys = video_keys()
    if flavour == 'stage1':
        return keys + bert_keys(int(layers / 2), False) + PROJ_KEYS
    if flavour == 'stage2':
        return keys + bert_keys(layers, True) + CLS_KEYS + PROJ_KEYS
    return keys + bert_keys(layers, True) + CLASSIFIER_KEYS


def our_name(official: str) -> str:
    """The plain name correspondence (not the converter's rules)."""
    head = official.split('.', 1)[0]
    return official if head == 'transformer' else f'video_encoder.{official}'


def _official_only_shape(key: str, ours: Dict[str, torch.Tensor],
                         bert: dict) -> torch.Size:
    """Shapes of official tensors our models do not hold."""
    hidden = bert['hidden_size']
    if key.startswith('cnn_low.layer4.'):
        return ours['video_encoder.cnn.' + key[len('cnn_low.'):]].shape
    if key.startswith('timesformer.norm.'):
        return torch.Size([hidden])
    if key.endswith('visual_embeddings.position_embeddings.weight'):
        return torch.Size([bert['max_position_embeddings'], hidden])
    if '.pooler1.' in key:  # QA / MC build pooler1 too
        return torch.Size(
            [hidden, hidden] if key.endswith('weight') else [hidden])
    raise KeyError(key)


def build(target: str, bert: dict, seed: int = 0, **kwargs):
    """Our tiny ``target`` model (eager attention), every tensor of its
    state randomised so that no two parts are alike, in eval mode."""
    if target == 'qa':
        kwargs.setdefault('num_labels', NUM_LABELS)
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type=TYPES[target],
            video_encoder=ENCODER,
            bert_config=dict(bert, attn_implementation='eager'),
            **kwargs))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if not value.is_floating_point():
                value.copy_(torch.randint(1, 100, value.shape, generator=g))
            elif key.endswith('running_var'):
                value.copy_(torch.rand(value.shape, generator=g) + 0.5)
            else:
                value.copy_(0.2 * torch.randn(value.shape, generator=g))
    return model.eval()


def official_state_dict(
        model,
        flavour: str,
        bert: dict,
        seed: int = 5,
        dtype: Optional[torch.dtype] = None) -> Dict[str, torch.Tensor]:
    """``model``'s weights under the official names of ``flavour``;
    official tensors ``model`` has no place for are random. Checks that
    the official names cover every tensor of ``model``."""
    ours = model.state_dict()
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key in official_keys(flavour, bert['num_hidden_layers']):
        name = our_name(key)
        if name in ours:
            value = ours[name].clone()
        else:
            value = torch.randn(
                _official_only_shape(key, ours, bert), generator=g)
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value
    used = {our_name(k) for k in out}
    assert not [k for k in ours if k not in used], 'official list incomplete'
    return out


def batch(target: str,
          videos: int = 2,
          clips: int = 2,
          options: int = 3,
          length: int = 6,
          vocab: int = 64,
          seed: int = 0) -> dict:
    """A raw batch (uint8 images, data samples with token rows) for
    ``target``: options for ``mc`` / ``msrvtt_mc``, one caption or question
    otherwise."""
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        keyframes=torch.randint(
            256, (videos, clips, 3, 64, 128), generator=g, dtype=torch.uint8),
        frames=torch.randint(
            256, (videos, clips, 2, 3, 16, 32), generator=g,
            dtype=torch.uint8))
    rows = options if target in ('mc', 'msrvtt_mc') else 1
    samples = []
    for i in range(videos):
        ids = torch.randint(4, vocab, (rows, length), generator=g)
        ids[:, 0], ids[:, -1] = 1, 2
        mask = torch.ones(rows, length, dtype=torch.long)
        mask[0, length - 2:] = 0  # one padded row
        ids[0, length - 2:] = 0
        if rows == 1:
            fields = dict(text_ids=ids[0], text_mask=mask[0])
        else:
            fields = dict(option_ids=ids, option_mask=mask)
        samples.append(BaseDataElement(sample_idx=i, **fields))
    return dict(inputs=inputs, data_samples=samples)


def tensor_outputs(model, data: dict) -> dict:
    """``model``'s ``mode='tensor'`` outputs on a raw batch."""
    with torch.no_grad():
        prepared = model.data_preprocessor(data, False)
        return model(**prepared, mode='tensor')
