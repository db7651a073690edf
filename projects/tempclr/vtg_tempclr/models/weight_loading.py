"""Initialise and load the TempCLR towers.

- :func:`init_bert_weights`: BERT's initialisation (what
  ``BertPreTrainedModel`` applies to the official modules, VideoTokenMLP
  included).
- :func:`load_bert_towers`: the official start of VideoCLIP / TempCLR
  training, HF ``bert-base-uncased`` in both towers (the video tower takes
  the embeddings, the first ``num_layers`` layers and the pooler; its
  VideoTokenMLP keeps its init), from a local ``pytorch_model.bin`` /
  ``model.safetensors`` or a directory holding one.
- :func:`load_converted_checkpoint`: a checkpoint made by
  ``tools/convert_official.py`` (or saved by MMEngine) into the model.

Every load checks names and shapes first and raises a ``ValueError``
naming the file and the keys that are missing, left over or of another
shape.
"""
import os
from pathlib import Path
from typing import Dict, Mapping, Union

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from .encoders import BertTower

PathLike = Union[str, os.PathLike]

#: file names looked up in a BERT directory, in order
BERT_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
#: BERT parts a tower loads (after the ``bert.`` prefix is removed)
BERT_TOWER_PREFIXES = ('embeddings.', 'encoder.layer.', 'pooler.')
#: parts of a HF BERT checkpoint no tower uses: pretraining heads, buffers
BERT_UNUSED = ('cls.', 'embeddings.position_ids', 'embeddings.token_type_ids')


def init_bert_weights(module: nn.Module, std: float) -> None:
    """BERT's init on every submodule: Linear and Embedding weights
    ``N(0, std)`` (the padding row zeroed), biases 0, LayerNorm 1 / 0."""
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


def load_checked(module: nn.Module, state_dict: Mapping[str, Tensor],
                 source: str) -> None:
    """Load ``state_dict`` into ``module`` after checking that the names
    and shapes match exactly.

    Raises:
        ValueError: naming ``source`` and the missing, unexpected or
            mis-shaped keys.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k}: {list(state_dict[k].shape)} in the file, '
        f'{list(own[k].shape)} in the model' for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys {missing[:8]}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys '
                        f'{unexpected[:8]}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches: {shapes[:8]}')
    if problems:
        raise ValueError(f'{source}: does not fit {type(module).__name__}: ' +
                         '; '.join(problems))
    module.load_state_dict(dict(state_dict), strict=True)


def _bert_weight_file(path: PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        for name in BERT_WEIGHT_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f'BERT directory {path} holds none of '
                                f'{BERT_WEIGHT_FILES}')
    if not path.is_file():
        raise FileNotFoundError(f'BERT checkpoint {path} does not exist '
                                '(nothing is downloaded: give a local file)')
    return path


def read_bert_state_dict(path: PathLike) -> Dict[str, Tensor]:
    """HF BERT weights in tower names.

    The ``bert.`` prefix (``BertForPreTraining`` files) is removed, the old
    LayerNorm names ``gamma`` / ``beta`` become ``weight`` / ``bias`` (as
    ``from_pretrained`` renames them), and the pretraining heads and the
    ``position_ids`` / ``token_type_ids`` buffers are dropped.

    Args:
        path: a ``.safetensors`` / ``.bin`` file or a directory with one.

    Raises:
        ValueError: a key that is no part of a BERT, naming the file.
    """
    file = _bert_weight_file(path)
    if file.suffix == '.safetensors':
        from safetensors.torch import load_file
        raw = load_file(str(file))
    else:
        raw = torch.load(file, map_location='cpu', weights_only=True)
    out = {}
    for key, value in raw.items():
        name = key[len('bert.'):] if key.startswith('bert.') else key
        if name.startswith(BERT_UNUSED):
            continue
        if not name.startswith(BERT_TOWER_PREFIXES):
            raise ValueError(f'{file}: {key} is not a BERT weight')
        if '.LayerNorm.' in name or name.startswith('LayerNorm.'):
            name = name.replace('.gamma', '.weight').replace('.beta', '.bias')
        out[name] = value
    return out


def load_bert_towers(video_bert: BertTower, text: BertTower,
                     path: PathLike) -> None:
    """Load HF BERT weights into both towers (strictly, see
    :func:`read_bert_state_dict`): the text tower takes every layer, the
    video tower the embeddings, its first ``num_layers`` layers and the
    pooler (the official ``from_pretrained`` drops the rest)."""
    weights = read_bert_state_dict(path)
    source = os.fspath(_bert_weight_file(path))
    load_checked(text, weights, f'{source} (text tower)')
    video = {
        k: v
        for k, v in weights.items() if not k.startswith('encoder.layer.')
        or int(k.split('.')[2]) < video_bert.num_layers
    }
    load_checked(video_bert, video, f'{source} (video tower)')


def load_converted_checkpoint(model: nn.Module, path: PathLike) -> None:
    """Load an MMEngine checkpoint (``state_dict`` in our names, as
    ``tools/convert_official.py`` writes) into ``model``, strictly; ``path``
    is a local file or a URL that MMEngine's ``CheckpointLoader`` reads.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an official (unconverted) checkpoint, or keys / shapes
            that do not fit, naming the file.
    """
    path = os.fspath(path)
    if '://' not in path and not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state_dict = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) \
        else None
    if not isinstance(state_dict, dict):
        raise ValueError(f'{path}: not a checkpoint with a state dict')
    if 'model' in state_dict or any(
            str(k).startswith('mmmodel.') for k in state_dict):
        raise ValueError(f'{path}: an official TempCLR checkpoint; convert '
                         'it first with projects/tempclr/tools/'
                         'convert_official.py')
    state_dict = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }
    load_checked(model, state_dict, path)
