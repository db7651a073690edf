"""Official TempCLR / VideoCLIP checkpoints -> our ``TempCLRDualEncoder``.

The official checkpoints (``checkpoint_best.pt``,
``checkpoint_layernorm_{DTW,OTAM}.pt``, ``checkpoint_allparameters_DTW.pt``:
one layout) are fairseq files ``{'model': state_dict, 'args' / 'cfg': ...,
...}`` whose keys are the ``MMFusionSeparate`` names behind fairseq's
``mmmodel.`` wrapper; ours are the same names without it:

- ``mmmodel.video_encoder.videomlp.*`` (VideoTokenMLP),
- ``mmmodel.video_encoder.bert.{embeddings,encoder.layer.{i},pooler}.*``,
- ``mmmodel.text_encoder.{embeddings,encoder.layer.{i},pooler}.*``,

so the conversion removes the prefix (a state dict without it is accepted
too) after checking the file against the official module tree:
VideoTokenMLP (``linear1``, ``LayerNorm``, ``linear2``), then per tower the
BERT embeddings, layers ``0 .. n-1`` with all their weights, and the
pooler, every tensor of the shape the others imply (hidden size, vocabulary,
positions, token types, intermediate size, feature size). transformers
3.x also saved the ``embeddings.position_ids`` buffer (``arange``); it is
checked and dropped, as is a ``token_type_ids`` buffer (zeros) and the
``embeddings.seg_embeddings`` of ``use_seg_emb`` models, which the official
forward never reads. Tensors become float32 (fairseq fp16 runs may save
half precision). A missing, unknown or mis-shaped key raises a
``ValueError`` naming the file and the key.

``projects/tempclr/tools/convert_official.py`` is the command line of
:func:`convert_checkpoint`; ``tools/check_parity.py`` uses
:func:`convert_state_dict` and :func:`infer_config`.
"""
import os
import pickle
import re
import types
from typing import Any, Dict, List, Mapping, Tuple

import torch
from torch import Tensor

from vtg_plugins.utils.io import atomic_write

__all__ = [
    'read_official_checkpoint', 'convert_state_dict', 'infer_config',
    'convert_checkpoint'
]

OFFICIAL_PREFIX = 'mmmodel.'
VIDEO_MLP = 'video_encoder.videomlp.'
#: tower name prefixes (ours = official without ``mmmodel.``)
TOWERS = ('video_encoder.bert.', 'text_encoder.')
VIDEO_MLP_KEYS = ('linear1.weight', 'linear1.bias', 'LayerNorm.weight',
                  'LayerNorm.bias', 'linear2.weight', 'linear2.bias')
EMBEDDING_KEYS = ('embeddings.word_embeddings.weight',
                  'embeddings.position_embeddings.weight',
                  'embeddings.token_type_embeddings.weight',
                  'embeddings.LayerNorm.weight', 'embeddings.LayerNorm.bias')
LAYER_KEYS = ('attention.self.query.weight', 'attention.self.query.bias',
              'attention.self.key.weight', 'attention.self.key.bias',
              'attention.self.value.weight', 'attention.self.value.bias',
              'attention.output.dense.weight', 'attention.output.dense.bias',
              'attention.output.LayerNorm.weight',
              'attention.output.LayerNorm.bias', 'intermediate.dense.weight',
              'intermediate.dense.bias', 'output.dense.weight',
              'output.dense.bias', 'output.LayerNorm.weight',
              'output.LayerNorm.bias')
POOLER_KEYS = ('pooler.dense.weight', 'pooler.dense.bias')
#: tower keys of the official files our model has no place for
DROPPED_KEYS = ('embeddings.position_ids', 'embeddings.token_type_ids',
                'embeddings.seg_embeddings.weight')
_LAYER = re.compile(r'encoder\.layer\.(\d+)\.(.+)$')


class _Unreadable:
    """Stands in for a pickled object whose class cannot be imported here
    (fairseq's omegaconf ``cfg``); keeps its state, unused."""

    def __init__(self, *args, **kwargs) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _TolerantUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Unreadable, ), {'__module__': module})


#: a ``pickle_module`` for ``torch.load`` that tolerates missing classes
TOLERANT_PICKLE = types.SimpleNamespace(
    Unpickler=_TolerantUnpickler,
    load=lambda f, **kw: _TolerantUnpickler(f, **kw).load(),
    __name__='tolerant_pickle')


def read_official_checkpoint(path: str) -> Dict[str, Tensor]:
    """The weights of an official checkpoint file: its ``model`` entry
    (fairseq), ``state_dict`` entry or the file itself when it is a state
    dict. Objects of libraries that are not installed (fairseq's omegaconf
    config) are read as placeholders.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no state dict in the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'official checkpoint {path} does not exist')
    ckpt = torch.load(
        path,
        map_location='cpu',
        weights_only=False,
        pickle_module=TOLERANT_PICKLE)
    for key in ('model', 'state_dict'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            return ckpt[key]
    if isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, Tensor) for v in ckpt.values()):
        return ckpt
    raise ValueError(f'{path}: no model state dict (expected a fairseq '
                     "checkpoint with 'model', or a state dict)")


def _strip_prefix(sd: Mapping[str, Tensor], source: str) -> Dict[str, Tensor]:
    prefixed = [k for k in sd if k.startswith(OFFICIAL_PREFIX)]
    if prefixed and len(prefixed) != len(sd):
        other = next(k for k in sd if not k.startswith(OFFICIAL_PREFIX))
        raise ValueError(f'{source}: {other} lacks the {OFFICIAL_PREFIX!r} '
                         'prefix the other keys have')
    cut = len(OFFICIAL_PREFIX) if prefixed else 0
    return {k[cut:]: v for k, v in sd.items()}


def _layer_count(sd: Mapping[str, Tensor], tower: str, source: str) -> int:
    indices = set()
    for key in sd:
        match = _LAYER.match(
            key[len(tower):]) if key.startswith(tower) else None
        if match:
            indices.add(int(match.group(1)))
    if not indices:
        raise ValueError(f'{source}: no {tower}encoder.layer.* weights')
    return max(indices) + 1


def expected_keys(num_video_layers: int,
                  num_text_layers: int) -> Tuple[str, ...]:
    """Our (= official without ``mmmodel.``) parameter names."""
    keys = [VIDEO_MLP + k for k in VIDEO_MLP_KEYS]
    for tower, layers in zip(TOWERS, (num_video_layers, num_text_layers)):
        keys += [tower + k for k in EMBEDDING_KEYS]
        keys += [
            f'{tower}encoder.layer.{i}.{k}' for i in range(layers)
            for k in LAYER_KEYS
        ]
        keys += [tower + k for k in POOLER_KEYS]
    return tuple(keys)


def infer_config(sd: Mapping[str, Tensor]) -> Dict[str, int]:
    """Sizes of a converted (or unprefixed official) state dict:
    ``hidden_size, vocab_size, max_position_embeddings, type_vocab_size,
    intermediate_size, num_hidden_layers`` (text), ``video_layers``,
    ``input_dim``."""
    text = TOWERS[1]
    words = sd[text + 'embeddings.word_embeddings.weight']
    return dict(
        hidden_size=words.shape[1],
        vocab_size=words.shape[0],
        max_position_embeddings=sd[
            text + 'embeddings.position_embeddings.weight'].shape[0],
        type_vocab_size=sd[text +
                           'embeddings.token_type_embeddings.weight'].shape[0],
        intermediate_size=sd[text + 'encoder.layer.0.intermediate.dense.'
                             'weight'].shape[0],
        num_hidden_layers=_layer_count(sd, text, '<state dict>'),
        video_layers=_layer_count(sd, TOWERS[0], '<state dict>'),
        input_dim=sd[VIDEO_MLP + 'linear1.weight'].shape[1])


def _shapes(c: Dict[str, int]) -> Dict[str, Tuple[int, ...]]:
    """Expected shape of every name (a layer's names without
    ``encoder.layer.{i}.``) given the sizes of :func:`infer_config`."""
    h, i = c['hidden_size'], c['intermediate_size']
    shapes = {
        'linear1.weight': (h, c['input_dim']),
        'linear2.weight': (h, h),
        'embeddings.word_embeddings.weight': (c['vocab_size'], h),
        'embeddings.position_embeddings.weight':
        (c['max_position_embeddings'], h),
        'embeddings.token_type_embeddings.weight': (c['type_vocab_size'], h),
        'intermediate.dense.weight': (i, h),
        'intermediate.dense.bias': (i, ),
        'output.dense.weight': (h, i),
        'pooler.dense.weight': (h, h),
    }
    for name in VIDEO_MLP_KEYS + EMBEDDING_KEYS + LAYER_KEYS + POOLER_KEYS:
        default = (h, h) if name.endswith('.weight') and \
            'LayerNorm' not in name else (h, )
        shapes.setdefault(name, default)
    return shapes


def _name_in_module(key: str) -> str:
    """``key`` without its tower (and layer) prefix."""
    for prefix in (VIDEO_MLP, ) + TOWERS:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    match = _LAYER.match(key)
    return match.group(2) if match else key


def _check_dropped(key: str, value: Tensor, source: str) -> None:
    """The buffers transformers 3.x saved must be their fixed values."""
    if key.endswith('position_ids'):
        fixed = torch.arange(value.shape[-1])
    elif key.endswith('token_type_ids'):
        fixed = torch.zeros(value.shape[-1], dtype=torch.long)
    else:  # seg_embeddings: a trained-nowhere table, nothing to check
        return
    if value.numel() != value.shape[-1] or not torch.equal(
            value.reshape(-1).long(), fixed):
        raise ValueError(f'{source}: {key} is not the fixed buffer '
                         f'{"arange" if "position" in key else "zeros"}')


def convert_state_dict(
        official_sd: Mapping[str, Tensor],
        source: str = '<state dict>') -> Tuple[Dict[str, Tensor], List[str]]:
    """Official weights -> ours (float32), checked against the official
    module tree.

    Args:
        official_sd: the ``model`` state dict of an official checkpoint
            (with or without ``mmmodel.``).
        source: the file name for errors.

    Returns:
        tuple: ``(state_dict, dropped)``: our weights and the official keys
        left out (see the module doc).

    Raises:
        ValueError: a missing, unknown or mis-shaped key, naming ``source``.
    """
    sd = _strip_prefix(official_sd, source)
    dropped = []
    for key in list(sd):
        tower = next((t for t in TOWERS if key.startswith(t)), None)
        if tower and key[len(tower):] in DROPPED_KEYS:
            _check_dropped(key, sd.pop(key), source)
            dropped.append(key)
    layers = [_layer_count(sd, tower, source) for tower in TOWERS]
    want = expected_keys(*layers)
    missing = [k for k in want if k not in sd]
    unknown = sorted(set(sd) - set(want))
    if unknown:
        raise ValueError(f'{source}: {len(unknown)} keys of no official '
                         f'TempCLR module: {unknown[:8]}')
    if missing:
        raise ValueError(f'{source}: {len(missing)} official keys missing: '
                         f'{missing[:8]}')
    config = infer_config(sd)
    shapes = _shapes(config)
    for key in want:
        shape = shapes[_name_in_module(key)]
        if tuple(sd[key].shape) != shape:
            raise ValueError(f'{source}: {key} has shape '
                             f'{list(sd[key].shape)}, expected {list(shape)} '
                             f'(from the sizes {config})')
    return {k: sd[k].float() for k in want}, sorted(dropped)


def convert_checkpoint(src: str, dst: str) -> Dict[str, Tensor]:
    """Convert the official checkpoint ``src`` into the MMEngine checkpoint
    ``dst`` (``{'meta', 'state_dict'}``, written atomically).

    Returns:
        dict: the converted state dict.
    """
    official = read_official_checkpoint(src)
    state_dict, dropped = convert_state_dict(official, src)
    dtypes = sorted({str(v.dtype) for v in official.values()})
    meta = dict(
        source=os.path.abspath(src),
        converter='vtg_tempclr convert_official',
        config=infer_config(state_dict),
        dropped=dropped,
        source_dtypes=dtypes)
    with atomic_write(dst, 'wb') as f:
        torch.save(dict(meta=meta, state_dict=state_dict), f)
    return state_dict
