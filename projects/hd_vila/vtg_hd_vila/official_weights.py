"""Reading official HD-VILA weight files into our names (the first half of
:mod:`vtg_hd_vila.converters`; the target model's rules are there).

Three kinds of files (official ``src/``), read with ``torch.load`` (trusted
files):

- ``e2e``: the ``HDVILA`` state dict ``ModelSaver`` writes (also wrapped in
  ``model_state_dict`` / ``state_dict`` / ``model``), of one official model
  class, its **flavour**: ``stage1`` (stage-1 ``HDVILA`` +
  ``HDVILAForPreTraining``: ``hdvila_stage1.pt``, retrieval fine-tunes),
  ``stage2`` (``hdvila_stage2.pt``), ``qa``
  (``HDVILAForSequenceClassification``), ``mc``
  (``HDVILAForMultipleChoice``); a stage-1 file holds half the BERT's
  layers (below). Video keys ``cnn.*``, ``cnn_low.*``,
  ``grid_encoder*.*``, ``timesformer.*`` become ``video_encoder.*``;
  ``transformer.*`` keep their names;
- ``cnn``: the ResNet file (``res50_mmdetection.pth``: bare, as
  ``convert_pth_file`` writes it, or a detector's ``backbone.*``); each key
  goes to ``video_encoder.cnn`` and ``video_encoder.cnn_low`` (official
  ``load_separate_ckpt``); ``fc.*`` and other detector parts are dropped;
- ``bert``: the BERT file (``bert-large-uncased/pytorch_model.bin``):
  ``bert.*`` / ``cls.*`` under ``transformer.``. Official
  ``load_state_dict_with_mismatch`` matches names exactly, so BERT's
  ``pooler`` never reaches ``pooler1`` (dropped here too). Legacy
  ``LayerNorm.gamma`` / ``beta`` names are read as ``weight`` / ``bias``
  (exact matching would skip them officially; we load what they mean); a
  missing ``cls.predictions.decoder.weight`` is the word embeddings (tied
  BERT). ``cls.predictions.decoder.bias`` is ``cls.predictions.bias`` (one
  tensor, as in the official model) in every kind.

Layers (:func:`num_layers`): the official ``BertEncoder`` of a stage-1
model (stage-1 pre-training, retrieval and MSRVTT-MC fine-tuning:
``HDVILA(..., stage=1)``) builds layers ``0 .. n/2-1`` of the ``n``-layer
BERT only, so stage-1 files hold ``n/2`` layers; stage-2 / QA / MC files
and the BERT file hold ``n``.
"""
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torchvision.models.resnet import Bottleneck

from .models.resnet_branches import ARCH_SETTINGS

VIDEO_PARTS = ('cnn', 'cnn_low', 'grid_encoder', 'grid_encoder_low',
               'timesformer', 'grid_encoder_combine')
BERT = 'transformer.bert.'
#: parts of our models: a source fills a part completely or not at all
PARTS = tuple(f'video_encoder.{p}' for p in VIDEO_PARTS) + tuple(
    BERT + p for p in ('embeddings', 'encoder', 'pooler1', 'visual_embeddings',
                       'pooler2')) + tuple(
                           f'transformer.{p}'
                           for p in ('t_proj', 'v_proj', 'cls', 'classifier'))
#: task heads an e2e start may leave at the model's init
HEADS = (BERT + 'visual_embeddings', BERT + 'pooler2', 'transformer.cls',
         'transformer.classifier')
_STAGE1 = PARTS[:9] + ('transformer.t_proj', 'transformer.v_proj')
#: flavour -> the parts its checkpoint holds (our names)
FLAVOUR_PARTS = dict(
    stage1=_STAGE1,
    stage2=_STAGE1 + HEADS[:3],
    qa=PARTS[:11] + ('transformer.classifier', ),
    mc=PARTS[:11] + ('transformer.classifier', ))
POOLER_REASON = ('the official model names its poolers pooler1 / pooler2, so '
                 "load_state_dict_with_mismatch never loads BERT's pooler")
WRAPPERS = ('model_state_dict', 'state_dict', 'model')
#: first key components of official files (and of no key of ours)
OFFICIAL_HEADS = VIDEO_PARTS + ('bert', 'cls', 'backbone', 'conv1', 'bn1',
                                'layer1', 'embeddings', 'encoder')
_BERT_FILES = ('pytorch_model.bin', 'model.safetensors')
_DECODER = 'transformer.cls.predictions.'
_BLOCK = re.compile(r'video_encoder\.cnn\.layer(\d)\.(\d+)\.')
_LAYER = re.compile(re.escape(BERT) + r'encoder\.layer\.(\d+)\.')

#: our key -> (official key, tensor)
Renamed = Dict[str, Tuple[str, Tensor]]


def part_of(key: str) -> Optional[str]:
    """The part of :data:`PARTS` our ``key`` belongs to."""
    return next((p for p in PARTS if key.startswith(p + '.')), None)


def layer_of(key: str) -> Optional[int]:
    """The encoder layer index of our ``key`` (None outside the layers)."""
    match = _LAYER.match(key)
    return int(match.group(1)) if match else None


def num_layers(read: List[Tuple[Renamed, Dict[str, Any]]]) -> Optional[int]:
    """The BERT's layer count ``n`` (our ``num_hidden_layers``) from the
    sources :func:`read_source` read: the BERT file's, else the e2e
    file's, doubled for a stage-1 one; None when no source holds layers.

    Raises:
        ValueError: an e2e file whose layer count does not go with the
            BERT file's (``n``; ``n // 2`` for a stage-1 file).
    """

    def count(out):
        layers = [i for i in map(layer_of, out) if i is not None]
        return max(layers) + 1 if layers else 0

    bert = next((i['path'] for _, i in read if i['kind'] == 'bert'), None)
    n = next((count(o) for o, i in read if i['kind'] == 'bert'), 0)
    for out, info in read:
        if info['kind'] != 'e2e':
            continue
        layers, half = count(out), info['flavour'] == 'stage1'
        if not n:
            return 2 * layers if half else layers
        if layers != (n // 2 if half else n):
            built = f'layers 0 .. {n // 2 - 1} only' if half else f'all {n}'
            raise ValueError(
                f'{info["path"]}: {layers} encoder layers do not go with the '
                f'{n}-layer BERT file {bert} (an official {info["flavour"]} '
                f'model of it builds {built})')
    return n or None


def resnet_depth(keys: List[str]) -> Optional[int]:
    """The ResNet depth (a key of ``ARCH_SETTINGS``) the
    ``video_encoder.cnn.layer*`` blocks among ``keys`` (our names) show;
    None without any."""
    blocks = {}
    for match in filter(None, map(_BLOCK.match, keys)):
        blocks.setdefault(int(match.group(1)), set()).add(match.group(2))
    if not blocks:
        return None
    counts = tuple(len(blocks.get(i, ())) for i in range(1, 5))
    bottleneck = any('.conv3.' in k for k in keys)
    for depth, (block, layout) in ARCH_SETTINGS.items():
        if layout == counts and (block is Bottleneck) == bottleneck:
            return depth
    raise ValueError(f'a ResNet with {counts} blocks per stage is none of '
                     f'the depths {sorted(ARCH_SETTINGS)}')


def strip_module(sd: Mapping[str, Tensor], source: str) -> Dict[str, Tensor]:
    """``sd`` without a DataParallel ``module.`` prefix (on all keys or
    none)."""
    prefixed = [k for k in sd if k.startswith('module.')]
    if prefixed and len(prefixed) != len(sd):
        other = next(k for k in sd if not k.startswith('module.'))
        raise ValueError(f"{source}: {other} lacks the 'module.' prefix the "
                         'other keys have')
    return {k[7 if prefixed else 0:]: v for k, v in sd.items()}


def read_official_weights(path: str) -> Dict[str, Tensor]:
    """The state dict of an official file (for BERT also the folder with
    ``pytorch_model.bin`` / ``model.safetensors``), unwrapped from one of
    :data:`WRAPPERS` and without a ``module.`` prefix.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no state dict in it.
    """
    file = Path(path)
    if file.is_dir():
        file = next((file / n for n in _BERT_FILES if (file / n).is_file()),
                    file)
    if not file.is_file():
        raise FileNotFoundError(f'official checkpoint {path} does not exist')
    if file.suffix == '.safetensors':
        from safetensors.torch import load_file
        ckpt = load_file(str(file))
    else:
        ckpt = torch.load(file, map_location='cpu', weights_only=False)
    if isinstance(ckpt, dict):
        ckpt = next(
            (ckpt[k] for k in WRAPPERS if isinstance(ckpt.get(k), dict)), ckpt)
    if not (isinstance(ckpt, dict) and ckpt
            and all(isinstance(v, Tensor) for v in ckpt.values())):
        raise ValueError(f'{file}: no state dict (expected tensors, maybe '
                         f'under one of {WRAPPERS})')
    return strip_module(ckpt, str(file))


def source_kind(sd: Mapping[str, Tensor], source: str) -> str:
    """``'e2e'``, ``'bert'`` or ``'cnn'`` from the key names."""
    heads = {k.split('.', 1)[0] for k in sd}
    if 'video_encoder' in heads:
        raise ValueError(f'{source}: already in our names (video_encoder.*);'
                         ' load it directly, it needs no conversion')
    if heads & set(VIDEO_PARTS + ('transformer', )):
        return 'e2e'
    if heads & {'bert', 'cls', 'embeddings', 'encoder', 'pooler'}:
        return 'bert'
    if 'backbone' in heads or {'conv1', 'layer1'} <= heads:
        return 'cnn'
    raise ValueError(f'{source}: neither an HD-VILA checkpoint (cnn.* / '
                     'transformer.*), a BERT (bert.* / cls.*) nor a ResNet '
                     f'(conv1.*, layer1.*); first keys {list(sd)[:5]}')


def e2e_flavour(sd: Mapping[str, Tensor], source: str) -> str:
    """The official model class of an e2e state dict."""
    head = sd.get('transformer.classifier.2.weight')
    if head is not None:
        return 'mc' if head.shape[0] == 1 else 'qa'
    if any(k.startswith('transformer.cls.') for k in sd):
        return 'stage2'
    if 'transformer.t_proj.weight' in sd:
        return 'stage1'
    raise ValueError(f'{source}: no transformer.classifier, transformer.cls '
                     'or transformer.t_proj: not a state dict of an official'
                     ' HD-VILA model')


def _check_buffer(key: str, value: Tensor, source: str) -> None:
    fixed = (
        torch.arange(value.shape[-1]) if key.endswith('position_ids') else
        torch.zeros(value.shape[-1], dtype=torch.long))
    if value.numel() != value.shape[-1] or not torch.equal(
            value.reshape(-1).long(), fixed):
        raise ValueError(f'{source}: {key} is not the constant buffer '
                         f'{"arange" if "position" in key else "zeros"}')


def _rename_cnn(key: str, detector: bool) -> Tuple[Optional[str], str]:
    """``(our name without the branch, '')`` or ``(None, why dropped)``."""
    if detector:
        if not key.startswith('backbone.'):
            return None, 'a detector part other than the backbone'
        key = key[len('backbone.'):]
    if key.startswith('fc.'):
        return None, 'the ImageNet classifier (feature maps only)'
    return key, ''


def _rename_bert(key: str, value: Tensor,
                 source: str) -> Tuple[Optional[str], str]:
    name = key if key.startswith(('bert.', 'cls.')) else 'bert.' + key
    name = re.sub(r'(LayerNorm)\.gamma$', r'\1.weight', name)
    name = re.sub(r'(LayerNorm)\.beta$', r'\1.bias', name)
    if name.startswith('bert.pooler.'):
        return None, POOLER_REASON
    if name.endswith(('embeddings.position_ids', 'embeddings.token_type_ids')):
        _check_buffer(key, value, source)
        return None, 'a constant buffer'
    return 'transformer.' + name, ''


def rename(sd: Mapping[str, Tensor], kind: str,
           source: str) -> Tuple[Renamed, Dict[str, str]]:
    """Official keys -> ``(ours -> (official key, tensor), dropped)``, the
    drops of the file's kind (not yet those of a target)."""
    out, dropped, unknown = {}, {}, []
    detector = kind == 'cnn' and any(k.startswith('backbone.') for k in sd)
    for key, value in sd.items():
        if kind == 'e2e':
            head = key.split('.', 1)[0]
            if head in VIDEO_PARTS:
                out['video_encoder.' + key] = (key, value)
            elif head == 'transformer':
                out[key] = (key, value)
            else:
                unknown.append(key)
            continue
        if kind == 'cnn':
            name, why = _rename_cnn(key, detector)
            names = [f'video_encoder.{b}.{name}' for b in ('cnn', 'cnn_low')]
        else:
            name, why = _rename_bert(key, value, source)
            names = [name]
        if name is None:
            dropped[key] = why
        else:
            out.update({n: (key, value) for n in names})
    if unknown:
        raise ValueError(f'{source}: {len(unknown)} keys of no HD-VILA '
                         f'module: {unknown[:8]}')
    return out, dropped


def tie_decoder(out: Renamed, kind: str, source: str) -> List[str]:
    """Fill ``cls.predictions.decoder.bias`` from ``cls.predictions.bias``
    (one tensor) and, in a BERT file, a missing decoder weight from the
    word embeddings; returns the keys filled."""
    if _DECODER + 'bias' not in out:
        return []
    tied = []
    bias = out[_DECODER + 'bias']
    if _DECODER + 'decoder.bias' not in out:
        out[_DECODER + 'decoder.bias'] = bias
        tied.append(_DECODER + 'decoder.bias')
    elif not torch.equal(out[_DECODER + 'decoder.bias'][1], bias[1]):
        raise ValueError(f'{source}: cls.predictions.bias and cls.'
                         'predictions.decoder.bias differ; they are one '
                         'tensor')
    words = out.get(BERT + 'embeddings.word_embeddings.weight')
    if kind == 'bert' and words and _DECODER + 'decoder.weight' not in out:
        out[_DECODER + 'decoder.weight'] = words
        tied.append(_DECODER + 'decoder.weight')
    return tied


def read_source(name: str,
                sd: Mapping[str, Tensor]) -> Tuple[Renamed, Dict[str, Any]]:
    """One official state dict in our names and its ``info``: ``path``,
    ``kind``, ``flavour`` (e2e), ``dropped`` (official key -> reason),
    ``tied``.

    Raises:
        ValueError: naming ``name``: an unknown kind or key, an e2e file
            without a part of its official model.
    """
    sd = strip_module(sd, name)
    kind = source_kind(sd, name)
    out, dropped = rename(sd, kind, name)
    info = dict(path=name, kind=kind, dropped=dropped)
    if kind == 'e2e':
        info['flavour'] = e2e_flavour(sd, name)
        have = {part_of(k) for k in out}
        lost = [p for p in FLAVOUR_PARTS[info['flavour']] if p not in have]
        if lost:
            raise ValueError(f'{name}: an official {info["flavour"]} '
                             f'checkpoint without any {lost} weights')
    info['tied'] = tie_decoder(out, kind, name)
    return out, info
