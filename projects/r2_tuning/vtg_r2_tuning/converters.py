"""Official R²-Tuning checkpoints -> vtg_r2_tuning checkpoints.

An official model-zoo ``.pth`` (github.com/yeliudev/R2-Tuning; the
state_dict may be wrapped under ``state_dict`` or ``model``, keys may carry a
``module.`` prefix) or a bare state_dict is mapped onto :class:`R2Tuning`'s
keys. The model settings (k, dims, TEF, strides, coord head) are read from
the tensors; the CLIP arch cannot be (B/32 and B/16 share every shape), so
it is an argument. The written checkpoint holds ``state_dict`` and
``meta.model_cfg`` and loads with MMEngine's ``load_checkpoint``.

``projects/r2_tuning/tools/convert_official.py`` is the command line of
:func:`convert`; ``tools/check_parity.py`` uses :func:`convert_state_dict`.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from vtg_plugins.registry import MODELS
from vtg_plugins.utils.io import atomic_write
from .models import feature_dims

__all__ = [
    'unwrap_checkpoint', 'infer_model_cfg', 'convert_state_dict', 'convert'
]

_RULES = [
    (r'adapter\.(video|query)_map\.0\.', r'adapter.\1_map.norm1.'),
    (r'adapter\.(video|query)_map\.2\.', r'adapter.\1_map.fc1.'),
    (r'adapter\.(video|query)_map\.4\.', r'adapter.\1_map.norm2.'),
    (r'adapter\.(video|query)_map\.6\.', r'adapter.\1_map.fc2.'),
    (r'(class|coord)_head\.module\.1\.', r'\1_head.conv1.'),
    (r'(class|coord)_head\.module\.3\.', r'\1_head.conv2.'),
    (r'loss\._loss_sal\.scale$', 'loss_module.sal_scale'),
]
_SAME = re.compile(r'^(coef|adapter\.(gate|scale)|adapter\.[vq]_map\.'
                   r'(weight|bias)|adapter\.tem\..+|pooling\.att\.weight)$')
_PYRAMID = re.compile(r'^pyramid\.blocks\.(\d+)\.(\d+)\.(weight|bias)$')


def _map_key(key: str) -> str:
    """Our name of one official state_dict key (KeyError if unknown)."""
    if _SAME.match(key):
        return key
    m = _PYRAMID.match(key)
    if m:
        level, idx, kind = int(m[1]), int(m[2]), m[3]
        stage, pos = divmod(idx, 5)  # [Permute, Conv, Permute, LN, ReLU]
        if pos in (1, 3):
            part = 'conv' if pos == 1 else 'norm'
            return f'pyramid.levels.{level}.{stage}.{part}.{kind}'
    for pattern, repl in _RULES:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise KeyError(key)


def unwrap_checkpoint(ckpt: dict, path: str = '<checkpoint>') -> Dict:
    """The official state_dict inside a loaded checkpoint object."""
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict checkpoint, got '
                         f'{type(ckpt).__name__}')
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    if not all(torch.is_tensor(v) for v in ckpt.values()):
        raise ValueError(f'{path}: no state_dict found (top-level keys '
                         f'{sorted(ckpt)[:8]})')
    return OrderedDict(
        (k[len('module.'):] if k.startswith('module.') else k, v)
        for k, v in ckpt.items())


def infer_model_cfg(state_dict: Dict, arch: str = 'ViT-B/32') -> dict:
    """Model settings implied by an official state_dict."""
    need = ('coef', 'adapter.scale', 'adapter.video_map.0.weight',
            'adapter.video_map.2.weight', 'adapter.query_map.0.weight')
    missing = [k for k in need if k not in state_dict]
    if missing:
        raise ValueError(f'not an R²-Tuning state_dict: missing {missing}')
    video_in = state_dict['adapter.video_map.0.weight'].numel()
    query_in = state_dict['adapter.query_map.0.weight'].numel()
    cv, cq, _ = feature_dims(arch)
    if video_in not in (cv, cv + 2) or query_in != cq:
        raise ValueError(
            f'state_dict widths (video {video_in}, query {query_in}) do not '
            f'fit arch {arch} (video {cv} or {cv + 2} with TEF, query {cq})')
    num_levels = state_dict['coef'].numel()
    coord = any(k.startswith('coord_head.') for k in state_dict)
    # the official configs without a coord head (YouTube Highlights, TVSum)
    # also use DynamicBCE, row-only SampledNCE and no cls-saliency merge
    cfg = dict(
        type='R2Tuning',
        arch=arch,
        dims=state_dict['adapter.video_map.2.weight'].shape[0],
        k=state_dict['adapter.scale'].numel(),
        use_tef=video_in == cv + 2,
        strides=tuple(2**i for i in range(num_levels)),
        use_coord_head=coord,
        merge_cls_sal=coord)
    if not coord:
        cfg['loss_cfg'] = dict(cls_loss='dynamic_bce', sal_direction=('row', ))
    return cfg


def convert_state_dict(official: Dict,
                       arch: str = 'ViT-B/32') -> Tuple[OrderedDict, dict]:
    """Map and validate an official state_dict.

    Returns:
        tuple: our state_dict and the model config it fits.

    Raises:
        ValueError: unknown, missing or mis-shaped keys (all listed).
    """
    cfg = infer_model_cfg(official, arch)
    unknown, out = [], OrderedDict()
    for key, value in official.items():
        try:
            out[_map_key(key)] = value
        except KeyError:
            unknown.append(key)
    expected = MODELS.build(dict(cfg)).state_dict()
    missing = [k for k in expected if k not in out]
    extra = [k for k in out if k not in expected]
    shapes = [
        f'{k}: checkpoint {tuple(out[k].shape)} vs model '
        f'{tuple(expected[k].shape)}' for k in expected
        if k in out and out[k].shape != expected[k].shape
    ]
    problems = []
    if unknown:
        problems.append(f'unknown official keys {unknown}')
    if missing:
        problems.append(f'keys our model needs but the checkpoint lacks '
                        f'{missing}')
    if extra:
        problems.append(f'unexpected keys {extra}')
    if shapes:
        problems.append('shape mismatches: ' + '; '.join(shapes))
    if problems:
        raise ValueError('cannot convert R²-Tuning checkpoint: ' +
                         ' | '.join(problems))
    return OrderedDict((k, out[k].float()) for k in expected), cfg


def convert(src: str, dst: str, arch: str = 'ViT-B/32') -> dict:
    """Convert the checkpoint file ``src`` into ``dst`` (atomic write).

    Returns:
        dict: the model config written to ``meta.model_cfg``.
    """
    try:
        ckpt = torch.load(src, map_location='cpu', weights_only=True)
    except Exception:  # official .pth may pickle nncore objects in meta
        ckpt = torch.load(src, map_location='cpu', weights_only=False)
    try:
        state_dict, cfg = convert_state_dict(unwrap_checkpoint(ckpt, src),
                                             arch)
    except ValueError as err:
        raise ValueError(f'{src}: {err}') from None
    with atomic_write(dst, 'wb') as f:
        torch.save(
            dict(state_dict=state_dict,
                 meta=dict(model_cfg=cfg, source=os.path.basename(src))), f)
    return cfg
