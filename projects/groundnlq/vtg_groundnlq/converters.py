"""Official GroundNLQ checkpoints and configs -> vtg_groundnlq.

A checkpoint written by github.com/houzhijian/GroundNLQ (``{'state_dict',
'state_dict_ema', 'optimizer', ...}``) or a bare state dict keeps its keys
(ours follow the official names); the architecture (widths, block counts,
GroundNLQ vs GroundNLQ*, head depth) is read from the weights, and every key
and shape is checked against the model built from it. What the weights
cannot tell (heads, window, ``max_seq_len``, regression ranges) comes from
the caller and defaults to the official configs. :func:`official_to_kwargs`
maps an official yaml config (``model`` / ``train_cfg`` / ``test_cfg``) to
:class:`GroundNLQ` arguments.

``projects/groundnlq/tools/convert_official.py`` is the command line of
:func:`convert_checkpoint`; ``tools/check_parity.py`` uses
:func:`official_to_kwargs` and :func:`convert_state_dict`.
"""
import os
import re
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from vtg_plugins.utils.io import atomic_write
from .models import GroundNLQ

__all__ = [
    'load_official_state_dict', 'infer_model_cfg', 'official_to_kwargs',
    'convert_state_dict', 'convert_checkpoint'
]

# official model-config keys without a counterpart here
_IGNORED_MODEL_KEYS = {
    'backbone_type', 'fpn_type', 'fpn_start_level', 'max_buffer_len_factor',
    'use_rel_pe', 'fpn_dim', 'head_dim'
}
_IGNORED_TRAIN_KEYS = {'clip_grad_l2norm'}
_IGNORED_TEST_KEYS = {'ext_score_file'}


def load_official_state_dict(path: str,
                             key: str = 'state_dict') -> Dict[str, Tensor]:
    """Read the official weights (``checkpoint[key]`` or a bare state dict)
    and drop a DDP ``module.`` prefix."""
    ckpt = torch.load(path, map_location='cpu', weights_only=False)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict checkpoint, got '
                         f'{type(ckpt).__name__}')
    if key in ckpt:
        sd = ckpt[key]
    elif any(k.startswith(('backbone.', 'module.backbone.')) for k in ckpt):
        sd = ckpt
    else:
        raise ValueError(f'{path}: no {key!r} entry and not a state dict '
                         f'(top-level keys: {sorted(ckpt)[:10]})')
    return {re.sub(r'^module\.', '', k): v for k, v in sd.items()}


def _count(sd: Dict[str, Tensor], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r'(\d+)\.')
    idx = {int(m.group(1)) for k in sd for m in [pat.match(k)] if m}
    return max(idx) + 1 if idx else 0


def infer_model_cfg(sd: Dict[str, Tensor]) -> dict:
    """Architecture arguments of :class:`GroundNLQ` read from weights."""
    try:
        vid_w = sd['backbone.vid_embd.0.conv.weight']
        txt_w = sd['backbone.txt_embd.0.conv.weight']
        cls_w = sd['cls_head.cls_head.conv.weight']
    except KeyError as e:
        raise ValueError(f'not a GroundNLQ state dict: missing {e}') from None
    n_branch = _count(sd, 'backbone.branch.')
    n_cross = 0
    while f'backbone.branch.{n_cross}.cross_attn.key.weight' in sd:
        n_cross += 1
    return dict(
        input_vid_dim=vid_w.shape[1],
        input_txt_dim=txt_w.shape[1],
        embd_dim=vid_w.shape[0],
        embd_kernel_size=vid_w.shape[2],
        backbone_arch=(_count(sd, 'backbone.vid_embd.'),
                       _count(sd, 'backbone.txt_stem.'),
                       _count(sd, 'backbone.vid_stem.'), n_cross,
                       n_branch - n_cross),
        embd_with_ln='backbone.vid_embd_norm.0.weight' in sd,
        fpn_with_ln='neck.fpn_norms.0.weight' in sd,
        head_with_ln='cls_head.norm.0.weight' in sd,
        head_num_layers=_count(sd, 'cls_head.head.') + 1,
        head_kernel_size=cls_w.shape[2],
        num_classes=cls_w.shape[0],
        train_cfg=dict(droppath=0.1 if any('drop_path_attn.scale' in k
                                           for k in sd) else 0.0))


def official_to_kwargs(model_cfg: dict,
                       train_cfg: Optional[dict] = None,
                       test_cfg: Optional[dict] = None) -> dict:
    """Official ``model`` / ``train_cfg`` / ``test_cfg`` dicts (yaml) to
    :class:`GroundNLQ` keyword arguments."""
    cfg = {k: v for k, v in model_cfg.items() if k not in _IGNORED_MODEL_KEYS}
    for k in ('fpn_dim', 'head_dim'):
        if k in model_cfg and model_cfg[k] != model_cfg.get('embd_dim'):
            raise ValueError(f'{k}={model_cfg[k]} differs from embd_dim='
                             f'{model_cfg.get("embd_dim")}: the identity '
                             f'neck needs equal widths')
    if model_cfg.get('fpn_type', 'identity') != 'identity':
        raise ValueError(f'only fpn_type identity is supported, got '
                         f'{model_cfg["fpn_type"]!r}')
    if model_cfg.get('use_rel_pe'):
        raise ValueError('use_rel_pe=True is not supported (GroundNLQ does '
                         'not use it)')
    cfg['backbone_arch'] = tuple(cfg.get('backbone_arch', (2, 4, 4, 0, 6)))
    if train_cfg is not None:
        cfg['train_cfg'] = {
            k: v
            for k, v in train_cfg.items() if k not in _IGNORED_TRAIN_KEYS
        }
    if test_cfg is not None:
        cfg['test_cfg'] = {
            k: v
            for k, v in test_cfg.items() if k not in _IGNORED_TEST_KEYS
        }
    return cfg


def convert_state_dict(
        sd: Dict[str, Tensor],
        model: torch.nn.Module,
        init_loss_norm: Optional[float] = None) -> Dict[str, Tensor]:
    """Map official weights onto ``model``'s state dict, checking keys and
    shapes. The official keys are ours; ``loss_normalizer`` (a buffer here,
    a Python float there) is set to ``init_loss_norm`` (default: the model's
    ``train_cfg.init_loss_norm``)."""
    expected = model.state_dict()
    own = {'loss_normalizer'}
    missing = sorted(set(expected) - set(sd) - own)
    unexpected = sorted(set(sd) - set(expected))
    bad_shape = [(k, tuple(v.shape), tuple(expected[k].shape))
                 for k, v in sd.items()
                 if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or bad_shape:
        raise ValueError(
            'official state dict does not match the model: '
            f'missing {missing[:8]}{"..." if len(missing) > 8 else ""}, '
            f'unexpected {unexpected[:8]}'
            f'{"..." if len(unexpected) > 8 else ""}, '
            f'shape mismatches (key, got, expected) {bad_shape[:8]}')
    out = {k: v.detach().clone().to(expected[k].dtype) for k, v in sd.items()}
    if init_loss_norm is None:
        init_loss_norm = float(model.loss_normalizer)
    out['loss_normalizer'] = torch.tensor(
        float(init_loss_norm), dtype=torch.float64)
    return out


def convert_checkpoint(src: str,
                       dst: str,
                       key: str = 'state_dict',
                       overrides: Optional[dict] = None) -> Tuple[dict, dict]:
    """Convert ``src`` to ``dst`` (written atomically); returns ``(model
    kwargs, state dict)``."""
    sd = load_official_state_dict(src, key)
    cfg = infer_model_cfg(sd)
    cfg.update(overrides or {})
    try:
        model = GroundNLQ(**cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{src}: cannot build GroundNLQ from {cfg}: '
                         f'{e}') from e
    try:
        new_sd = convert_state_dict(sd, model)
    except ValueError as e:
        raise ValueError(f'{src}: {e}') from e
    with atomic_write(dst, 'wb') as f:
        torch.save(
            dict(
                meta=dict(
                    source=os.path.abspath(src),
                    source_key=key,
                    converter='vtg_groundnlq convert_official',
                    model_cfg=cfg),
                state_dict=new_sd), f)
    return cfg, new_sd
