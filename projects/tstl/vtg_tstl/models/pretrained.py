"""Pretrained experts -> :class:`~vtg_tstl.models.TSTLBackbone`.

The backbone's parameter names are the official ones, so each loader maps
the checkpoint's names onto them (the rules of CAST's
``util_tools/utils.py::load_bidir_weights``), fixes what it can fix, loads
the result with ``strict=False`` and logs (MMEngine logger) what was
loaded, what stayed at its init and what was not used. A tensor whose
shape cannot be mapped raises a ``ValueError`` naming the file and the key.
Checkpoints are read with MMEngine's ``CheckpointLoader`` (local paths and
URLs); a TorchScript archive (OpenAI's ``ViT-B-16.pt``) comes back from it
as a ``ScriptModule`` (``torch.load`` hands such archives to
``torch.jit.load``), whose ``state_dict`` is used.

CLIP (OpenAI TorchScript, or an open_clip ``ViT-B-16-quickgelu`` state
dict, whose names are OpenAI's): the ``visual.`` tower (or a bare visual
state dict) maps as

- ``transformer.resblocks.{i}.{ln_1, attn.in_proj_*, attn.out_proj.*,
  ln_2, mlp.c_fc.*, mlp.c_proj.*}`` -> ``blocks.{i}.clip_{same}``;
- ``conv1.weight``, ``class_embedding``, ``positional_embedding``,
  ``ln_pre.*``, ``ln_post.*`` -> ``clip_{same}``;
- ``proj`` (the image-text projection) is not used by TSTL.

``positional_embedding`` (``1 + g*g`` rows) is resampled bicubically over
the patch grid, class row kept, when the backbone's grid differs (the
official loader never resamples it: at another image size it prints a size
mismatch and leaves the table at its random init, as it does for any other
mismatched tensor, where we raise).
open_clip checkpoints trained with GELU (not QuickGELU) carry the same
names but do not fit the backbone's QuickGELU MLP; nothing in the weights
tells them apart.

VideoMAE (the official naming, wrapped in ``model`` / ``module``, with an
``encoder.`` or ``backbone.`` prefix; or MMAction2's ``vit_mae`` naming in
an MMEngine ``state_dict``): ``patch_embed.projection`` ->
``patch_embed.proj``, ``mlp.layers.0.0`` -> ``mlp.fc1``, ``mlp.layers.1``
-> ``mlp.fc2``, the other block names (``norm1/2``, ``attn.qkv``, ``attn.q_bias``,
``attn.v_bias``, ``attn.proj``) unchanged. VideoMAE's ``fc_norm`` is not
mapped to ``vmae_fc_norm`` by default, which stays freshly initialised, as
the official loader leaves it (``map_fc_norm=True`` maps it); ``head``,
``norm``, the decoder and MMAction2's ``cls_head`` are not used. A 2-D
(image) patch embedding is inflated over the tubelet (repeated and divided
by its length, which keeps the response to a static clip); a tubelet
kernel of another length is refused. Layer scale (``gamma_1/2``) has no
counterpart in the backbone and is refused.

The VideoMAE ``pos_embed`` is a fixed sinusoid table in the official model
and in ours (a non-persistent buffer rebuilt for the backbone's size), so a
checkpoint table is never loaded: one of the backbone's shape must equal
the backbone's table; one of another shape (other frame count or grid) must
be the sinusoid table of its own length, and the backbone keeps its own (as
the official model does: its table depends on its size only). Any other
(learned) table is refused, because the backbone could not keep it.
"""
import logging
import math
import re
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

__all__ = [
    'LoadResult', 'read_state_dict', 'map_clip_keys', 'map_videomae_keys',
    'resize_clip_positions', 'load_pretrained_clip', 'load_pretrained_videomae'
]

#: checkpoint key -> (backbone key, tensor)
Mapped = Dict[str, Tuple[str, Tensor]]
#: (path, backbone key, checkpoint tensor, backbone tensor) -> the tensor to
#: load (a fixed-up shape, or the input unchanged)
Fitter = Callable[[str, str, Tensor, Tensor], Tensor]

_CLIP_STEM = ('conv1.weight', 'class_embedding', 'positional_embedding',
              'ln_pre.weight', 'ln_pre.bias', 'ln_post.weight', 'ln_post.bias')
_CLIP_BLOCK = re.compile(
    r'transformer\.resblocks\.(\d+)\.(ln_1\.(weight|bias)|attn\.in_proj_'
    r'(weight|bias)|attn\.out_proj\.(weight|bias)|ln_2\.(weight|bias)|'
    r'mlp\.c_(fc|proj)\.(weight|bias))$')
#: MMAction2 vit_mae -> official VideoMAE names
_VMAE_RENAMES = (
    ('patch_embed.projection.', 'patch_embed.proj.'),
    ('.mlp.layers.0.0.', '.mlp.fc1.'),
    ('.mlp.layers.1.', '.mlp.fc2.'),
)
_VMAE_KEY = re.compile(
    r'(patch_embed\.proj\.(weight|bias)|blocks\.\d+\.(norm[12]\.(weight|'
    r'bias)|attn\.(qkv\.weight|q_bias|v_bias|proj\.(weight|bias))|'
    r'mlp\.fc[12]\.(weight|bias)))$')
_LAYER_SCALE = re.compile(r'blocks\.\d+\.gamma_[12]$')
#: the backbone keys each expert provides
_CLIP_OWN = re.compile(r'(clip_|blocks\.\d+\.clip_)')
_VMAE_OWN = re.compile(r'(patch_embed\.|blocks\.\d+\.(norm[12]|attn|mlp)\.)')
_VMAE_OWN_FC_NORM = re.compile(_VMAE_OWN.pattern + r'|vmae_fc_norm\.')
#: a stored sinusoid table matches the formula to this (fp16 storage)
_SINUSOID_ATOL = 1e-3


class LoadResult(NamedTuple):
    """What a loader did (backbone keys unless said otherwise)."""
    loaded: List[str]  #: written from the checkpoint
    missing: List[str]  #: this expert's tensors the checkpoint lacked
    unexpected: List[str]  #: checkpoint keys not used


def read_state_dict(path: str) -> Dict[str, Tensor]:
    """The tensors of a checkpoint (local path or URL), floats as fp32.

    Unwraps a TorchScript archive (its ``state_dict()``), the ``model`` /
    ``module`` (official) or ``state_dict`` (MMEngine) entry and a DDP
    ``module.`` prefix.
    """
    with warnings.catch_warnings():  # torch.load -> torch.jit.load notes
        warnings.filterwarnings('ignore', '.*TorchScript archive.*')
        warnings.filterwarnings('ignore', '.*torch.jit.load.*deprecated')
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if isinstance(ckpt, nn.Module):
        ckpt = ckpt.state_dict()
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a state dict, a checkpoint dict '
                         f'or a TorchScript archive, got '
                         f'{type(ckpt).__name__}')
    for key in ('model', 'module', 'state_dict'):
        if isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
            break
    state = {}
    for key, value in ckpt.items():
        if not isinstance(value, Tensor):
            continue
        key = key[len('module.'):] if key.startswith('module.') else key
        state[key] = value.float() if value.is_floating_point() else value
    if not state:
        raise ValueError(f'{path}: no tensors found in the checkpoint')
    return state


def map_clip_keys(state: Dict[str, Tensor],
                  path: str) -> Tuple[Mapped, List[str]]:
    """OpenAI / open_clip names -> backbone names.

    Returns:
        tuple: the mapped tensors and the visual keys not used (``proj``
        and anything else); text-tower keys are dropped silently.
    """
    if any(k.startswith('visual.') for k in state):
        state = {
            k[len('visual.'):]: v
            for k, v in state.items() if k.startswith('visual.')
        }
    elif 'conv1.weight' not in state:
        raise ValueError(f'{path}: no CLIP image tower (neither '
                         "'visual.conv1.weight' nor 'conv1.weight')")
    mapped, unused = {}, []
    for key, value in state.items():
        block = _CLIP_BLOCK.match(key)
        if key in _CLIP_STEM:
            mapped[key] = ('clip_' + key, value)
        elif block is not None:
            rest = key[len(f'transformer.resblocks.{block.group(1)}.'):]
            mapped[key] = (f'blocks.{block.group(1)}.clip_{rest}', value)
        elif key.startswith('transformer.resblocks.'):
            raise ValueError(f'{path}: CLIP key {key!r} has no counterpart '
                             'in TSTLBackbone (a block part other than '
                             'ln_1/attn/ln_2/mlp, e.g. layer scale)')
        else:
            unused.append(key)
    return mapped, unused


def map_videomae_keys(state: Dict[str, Tensor],
                      path: str,
                      map_fc_norm: bool = False
                      ) -> Tuple[Mapped, List[str], Optional[Tensor]]:
    """Official / MMAction2 VideoMAE names -> backbone names.

    Returns:
        tuple: the mapped tensors, the checkpoint keys not used, and the
        checkpoint's ``pos_embed`` (None when it has none).
    """
    mapped, unused, pos_embed = {}, [], None
    for key, value in state.items():
        name = key
        for prefix in ('backbone.', 'encoder.'):
            if name.startswith(prefix):
                name = name[len(prefix):]
                break
        for old, new in _VMAE_RENAMES:
            name = name.replace(old, new)
        if name == 'pos_embed':
            pos_embed = value
        elif _LAYER_SCALE.match(name):
            raise ValueError(f'{path}: VideoMAE key {key!r} is layer scale, '
                             'which TSTLBackbone does not have')
        elif _VMAE_KEY.match(name):
            mapped[key] = (name, value)
        elif map_fc_norm and name in ('fc_norm.weight', 'fc_norm.bias'):
            mapped[key] = ('vmae_' + name, value)
        elif name.startswith('blocks.'):
            raise ValueError(f'{path}: VideoMAE key {key!r} has no '
                             'counterpart in TSTLBackbone')
        else:
            unused.append(key)
    if not mapped:
        raise ValueError(f'{path}: no VideoMAE encoder weights found (keys '
                         'like patch_embed.proj.weight, blocks.0.attn.qkv.'
                         'weight, with an optional encoder./backbone. '
                         'prefix)')
    return mapped, unused, pos_embed


def resize_clip_positions(table: Tensor, grid: int) -> Tensor:
    """``[1 + g*g, D] -> [1 + grid*grid, D]``: the class row kept, the
    patch rows resampled bicubically over the ``g x g`` grid (as timm's
    ``resample_abs_pos_embed``, ``align_corners=False``)."""
    old = math.isqrt(table.shape[0] - 1)
    if old * old != table.shape[0] - 1:
        raise ValueError(f'{table.shape[0]} rows are not 1 + a square grid')
    patches = table[1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(
        patches, size=(grid, grid), mode='bicubic', align_corners=False)
    return torch.cat([table[:1], patches.permute(0, 2, 3, 1).flatten(0, 2)])


def _fit_clip(path: str, name: str, value: Tensor, own: Tensor) -> Tensor:
    """Resample the CLIP position table to the backbone's grid."""
    if name != 'clip_positional_embedding' or value.shape == own.shape or \
            value.shape[1:] != own.shape[1:]:
        return value
    grid = math.isqrt(own.shape[0] - 1)
    try:
        resized = resize_clip_positions(value, grid)
    except ValueError as e:
        raise ValueError(f'{path}: CLIP positional_embedding '
                         f'{tuple(value.shape)}: {e}') from None
    print_log(
        f'{path}: CLIP positional_embedding resampled from '
        f'{tuple(value.shape)} to {tuple(resized.shape)} (bicubic over the '
        'patch grid, class row kept)',
        logger='current')
    return resized


def _fit_videomae(path: str, name: str, value: Tensor, own: Tensor) -> Tensor:
    """Inflate an image patch embedding over the tubelet."""
    if name != 'patch_embed.proj.weight' or value.dim() != 4 or \
            own.dim() != 5 or value.shape != own.shape[:2] + own.shape[3:]:
        return value
    frames = own.shape[2]
    print_log(
        f'{path}: 2-D patch embedding {tuple(value.shape)} inflated over '
        f'{frames} frames (repeated, divided by {frames})',
        logger='current')
    return value.unsqueeze(2).repeat(1, 1, frames, 1, 1) / frames


def _load(backbone: nn.Module,
          mapped: Mapped,
          unused: List[str],
          path: str,
          expert: str,
          own_keys: re.Pattern,
          fit: Fitter,
          note: str = '') -> LoadResult:
    """Shape-check, load ``strict=False`` and log."""
    own = backbone.state_dict()
    state, unexpected = {}, list(unused)
    for key, (name, value) in mapped.items():
        if name not in own:  # e.g. a deeper checkpoint
            unexpected.append(key)
            continue
        value = fit(path, name, value, own[name])
        if value.shape != own[name].shape:
            raise ValueError(
                f'{path}: {expert} key {key!r} {tuple(value.shape)} cannot '
                f'be mapped onto backbone {name!r} {tuple(own[name].shape)}')
        state[name] = value
    backbone.load_state_dict(state, strict=False)
    missing = sorted(k for k in own if own_keys.match(k) and k not in state)
    loaded = sorted(state)
    print_log(
        f'{path}: loaded {len(loaded)} {expert} tensors into '
        f'{type(backbone).__name__}; the other {len(own) - len(loaded)} '
        'backbone tensors are not touched',
        logger='current')
    if missing:
        print_log(
            f'{path}: {expert} tensors missing from the checkpoint, left at '
            f'init: {missing}',
            logger='current',
            level=logging.WARNING)
    if unexpected:
        print_log(
            f'{path}: checkpoint keys not used: {sorted(unexpected)}{note}',
            logger='current')
    return LoadResult(loaded, missing, sorted(unexpected))


def load_pretrained_clip(backbone: nn.Module, path: str) -> LoadResult:
    """Load an OpenAI / open_clip ViT into the backbone's CLIP expert.

    Args:
        backbone (nn.Module): a ``TSTLBackbone``.
        path (str): OpenAI TorchScript ``.pt``, an open_clip checkpoint or
            a (visual) state dict; local path or URL.
    """
    mapped, unused = map_clip_keys(read_state_dict(path), path)
    return _load(
        backbone, mapped, unused, path, 'CLIP', _CLIP_OWN, _fit_clip,
        ' (proj: the image-text projection, which TSTL '
        'does not use)' if 'proj' in unused else '')


def _check_pos_embed(backbone: nn.Module, table: Tensor, path: str) -> None:
    """A checkpoint's VideoMAE ``pos_embed`` against the backbone's fixed
    sinusoid table (see the module docstring)."""
    own = backbone.pos_embed
    table = table.reshape(1, -1, table.shape[-1])
    if table.shape == own.shape:
        if torch.allclose(table, own.to(table), atol=_SINUSOID_ATOL):
            print_log(
                f'{path}: pos_embed equals the backbone\'s fixed sinusoid '
                'table',
                logger='current')
            return
    elif table.shape[-1] == own.shape[-1] and torch.allclose(
            table,
            get_sinusoid_encoding(table.shape[1], table.shape[2]),
            atol=_SINUSOID_ATOL):
        print_log(
            f'{path}: pos_embed is the sinusoid table of {table.shape[1]} '
            f'tokens; the backbone keeps its own of {own.shape[1]} tokens '
            '(the official model uses the table of its size)',
            logger='current')
        return
    raise ValueError(
        f'{path}: pos_embed {tuple(table.shape)} is not the fixed sinusoid '
        'table (a learned table?); TSTLBackbone keeps a fixed table '
        f'{tuple(own.shape)} and cannot load it')


def load_pretrained_videomae(backbone: nn.Module,
                             path: str,
                             map_fc_norm: bool = False) -> LoadResult:
    """Load a VideoMAE ViT into the backbone's VideoMAE expert.

    Args:
        backbone (nn.Module): a ``TSTLBackbone``.
        path (str): official VideoMAE (pre-trained or fine-tuned) or
            MMAction2 ``vit_mae`` checkpoint; local path or URL.
        map_fc_norm (bool): load VideoMAE's ``fc_norm`` into
            ``vmae_fc_norm``; the official loader does not (default).
    """
    mapped, unused, pos_embed = map_videomae_keys(
        read_state_dict(path), path, map_fc_norm)
    if pos_embed is not None:
        _check_pos_embed(backbone, pos_embed, path)
    if not map_fc_norm:
        print_log(
            f'{path}: vmae_fc_norm keeps its fresh init (VideoMAE fc_norm '
            'is not mapped, as in the official loader)',
            logger='current')
    return _load(backbone, mapped, unused, path, 'VideoMAE',
                 _VMAE_OWN_FC_NORM if map_fc_norm else _VMAE_OWN,
                 _fit_videomae)
