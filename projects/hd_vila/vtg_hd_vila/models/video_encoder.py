"""HD-VILA's hybrid video encoder: a high-resolution keyframe and
low-resolution neighbouring frames fused into one grid of visual tokens.

For each clip (official ``extract_features``):

1. the keyframe ``[3, Hk, Wk]`` goes through ``cnn`` (ResNet, stages 1-4);
   stage 4 goes through ``grid_encoder`` (1x1 conv to the hidden size, 2x2
   max-pool, GELU) -> ``[C, Hk/64, Wk/64]``;
2. its stage-3 map is subsampled by 1/4 (nearest) and goes through
   ``grid_encoder_low`` (1x1 conv, GELU) -> ``[C, Hk/64, Wk/64]``;
3. the T-1 low-resolution frames ``[3, Hl, Wl]`` go through ``cnn_low``
   (stages 1-3) and ``grid_encoder_low`` -> ``[C, Hl/16, Wl/16]`` each;
4. the keyframe's map of step 2 is put in the middle of the frame maps
   (index ``T // 2``: ``frames[:T//2]``, keyframe, ``frames[T//2:]``), the
   ``timesformer`` runs over the T maps and its output at the middle index
   is kept;
5. ``grid_encoder_combine`` (1x1 conv of the concatenation, GELU) fuses it
   with the keyframe grid of step 1 -> ``[C, h, w]``.

With the official sizes (keyframe 640x1024, frames 160x256, Hl = Hk/4) both
grids are 10x16. The keyframe-only path returns step 1, the frames-only path
the TimeSformer's middle output over the frames alone.

Submodule names are the official ones (``cnn``, ``cnn_low``,
``grid_encoder``, ``grid_encoder_low``, ``timesformer``,
``grid_encoder_combine``). An official checkpoint converts by a prefix map
after dropping ``cnn_low.layer4.*`` and ``timesformer.norm.*``, which the
official model holds but never runs.

Inputs are normalised images (``HDVILADataPreprocessor``); the official model
normalises inside ``extract_features`` instead.
"""
import os
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from vtg_plugins.registry import MODELS

from .resnet_branches import HDVILAResNet
from .timesformer import TimeSformer

#: prefixes stripped from ResNet checkpoint keys (DataParallel; a detector
#: checkpoint's backbone)
_CKPT_PREFIXES = ('module.', 'backbone.')


def _conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, bias=False)


@MODELS.register_module()
class HDVILAVideoEncoder(BaseModule):
    """Keyframe ResNet + low-resolution ResNet + TimeSformer (see module doc).

    Args:
        hidden_size: channels C of the output grid (official 1024).
        resnet_depth: depth of both ResNets (official 50).
        resnet_frozen_stage: ``frozen_stages`` of both ResNets (official -1).
        norm_eval: keep the ResNets' BatchNorms in eval mode in training
            (official True).
        timesformer_depth: TimeSformer blocks (official 4).
        timesformer_heads: TimeSformer heads (official 16).
        num_frames: frames of the TimeSformer's time embedding (official 7).
        grid_size: ``(H, W)`` of its position embedding (official (10, 16)).
        drop_path_rate: TimeSformer stochastic depth (official 0.1).
        fused_attn: fused attention in the TimeSformer (False for parity).
        cnn_checkpoint: ResNet weights (local path or URL, e.g. the official
            ``res50_mmdetection.pth``) loaded into both ResNets by
            :meth:`init_weights`; None keeps the random init.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 hidden_size: int = 1024,
                 resnet_depth: int = 50,
                 resnet_frozen_stage: int = -1,
                 norm_eval: bool = True,
                 timesformer_depth: int = 4,
                 timesformer_heads: int = 16,
                 num_frames: int = 7,
                 grid_size=(10, 16),
                 drop_path_rate: float = 0.1,
                 fused_attn: bool = True,
                 cnn_checkpoint: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.cnn_checkpoint = cnn_checkpoint
        self.cnn = HDVILAResNet(resnet_depth, 4, resnet_frozen_stage,
                                norm_eval)
        self.cnn_low = HDVILAResNet(resnet_depth, 3, resnet_frozen_stage,
                                    norm_eval)
        stage3, stage4 = self.cnn.stage_channels[2:]
        self.grid_encoder = nn.Sequential(
            _conv1x1(stage4, hidden_size), nn.MaxPool2d(2, 2), nn.GELU())
        self.grid_encoder_low = nn.Sequential(
            _conv1x1(stage3, hidden_size), nn.GELU())
        self.timesformer = TimeSformer(
            depth=timesformer_depth,
            num_frames=num_frames,
            H=grid_size[0],
            W=grid_size[1],
            embed_dim=hidden_size,
            num_heads=timesformer_heads,
            drop_path_rate=drop_path_rate,
            fused_attn=fused_attn)
        self.grid_encoder_combine = nn.Sequential(
            _conv1x1(2 * hidden_size, hidden_size), nn.GELU())

    def init_weights(self) -> None:
        """MMEngine's init, then ``cnn_checkpoint`` into both ResNets."""
        super().init_weights()
        if self.cnn_checkpoint:
            self.load_cnn_checkpoint(self.cnn_checkpoint)

    def load_cnn_checkpoint(self,
                            filename: Union[str, os.PathLike],
                            map_location: str = 'cpu') -> None:
        """Load ResNet weights into ``cnn`` and ``cnn_low`` (the official
        ``load_separate_ckpt``).

        ``filename`` is anything MMEngine's ``CheckpointLoader`` reads (a
        local path, ``http(s)://``, ``torchvision://``...). The weights may be
        wrapped in ``state_dict`` and prefixed by ``module.`` or
        ``backbone.`` (a detector checkpoint: only its backbone is read).
        Keys neither branch has (``fc.*``; ``layer4.*`` for ``cnn_low``) are
        ignored.

        Raises:
            ValueError: naming the file, if a branch's key is missing or of
                another shape.
        """
        ckpt = CheckpointLoader.load_checkpoint(str(filename), map_location)
        state = ckpt
        if isinstance(ckpt, dict) and 'state_dict' in ckpt:
            state = ckpt['state_dict']
        if not isinstance(state, dict):
            raise ValueError(f'{filename}: holds a {type(state).__name__}, '
                             'not a state dict')
        for prefix in _CKPT_PREFIXES:
            if any(k.startswith(prefix) for k in state):
                state = {
                    k[len(prefix):]: v
                    for k, v in state.items() if k.startswith(prefix)
                }
        for name in ('cnn', 'cnn_low'):
            _load_branch(getattr(self, name), state, f'{filename} ({name})')

    def encode_keyframes(self, keyframes: torch.Tensor) -> torch.Tensor:
        """Keyframe-only path: ``[N, 3, Hk, Wk]`` -> ``[N, C, Hk/64, Wk/64]``
        (official ``extract_features_middle``)."""
        _check_images(keyframes, 4, 'keyframes', '[N, 3, Hk, Wk]')
        return self.grid_encoder(self.cnn(keyframes)[-1])

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames-only path: ``[N, T, 3, Hl, Wl]`` -> ``[N, C, Hl/16,
        Wl/16]``, the TimeSformer output of frame ``T // 2`` (official
        ``extract_features_other``)."""
        _check_images(frames, 5, 'frames', '[N, T, 3, Hl, Wl]')
        clip = self._frame_maps(frames)
        return self.timesformer(clip, frame=clip.shape[1] // 2)

    def forward(self,
                keyframes: Optional[torch.Tensor] = None,
                frames: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode clips into ``[N, C, h, w]`` grids.

        Args:
            keyframes: ``[N, 3, Hk, Wk]`` normalised keyframes, or None for
                the frames-only path.
            frames: ``[N, T-1, 3, Hl, Wl]`` normalised low-resolution frames
                (keyframe excluded; official Hl = Hk/4), or None for the
                keyframe-only path.

        Returns:
            ``[N, C, Hk/64, Wk/64]`` (frames-only: ``[N, C, Hl/16, Wl/16]``).
        """
        if keyframes is None and frames is None:
            raise ValueError('HDVILAVideoEncoder: give keyframes, frames or '
                             'both')
        if frames is None:
            return self.encode_keyframes(keyframes)
        if keyframes is None:
            return self.encode_frames(frames)
        _check_images(keyframes, 4, 'keyframes', '[N, 3, Hk, Wk]')
        _check_images(frames, 5, 'frames', '[N, T-1, 3, Hl, Wl]')
        if len(keyframes) != len(frames):
            raise ValueError(f'HDVILAVideoEncoder: {len(keyframes)} keyframes '
                             f'but {len(frames)} frame clips')
        stage3, stage4 = self.cnn(keyframes)[-2:]
        key_grid = self.grid_encoder(stage4)
        key_low = self.grid_encoder_low(
            F.interpolate(
                stage3, scale_factor=0.25, recompute_scale_factor=False))
        others = self._frame_maps(frames)
        if others.shape[-2:] != key_low.shape[-2:] or (key_grid.shape[-2:]
                                                       != key_low.shape[-2:]):
            raise ValueError(
                'HDVILAVideoEncoder: the grids do not line up: keyframe '
                f'{list(keyframes.shape[-2:])} gives '
                f'{list(key_grid.shape[-2:])} (stage 4) and '
                f'{list(key_low.shape[-2:])} (stage 3 / 4), frames '
                f'{list(frames.shape[-2:])} give {list(others.shape[-2:])}; '
                'the frames should be 1/4 of the keyframe (e.g. 160x256 and '
                '640x1024)')
        mid = (others.shape[1] + 1) // 2
        clip = torch.cat((others[:, :mid], key_low[:, None], others[:, mid:]),
                         dim=1)
        temporal = self.timesformer(clip, frame=mid)
        return self.grid_encoder_combine(torch.cat((key_grid, temporal), 1))

    def _frame_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, T, 3, Hl, Wl]`` -> ``[N, T, C, Hl/16, Wl/16]``."""
        N, T = frames.shape[:2]
        maps = self.grid_encoder_low(
            self.cnn_low.forward_to_stage(frames.flatten(0, 1), stage=3))
        return maps.reshape(N, T, *maps.shape[1:])


def _check_images(x: torch.Tensor, dim: int, name: str, shape: str) -> None:
    if x.dim() != dim or x.shape[-3] != 3:
        raise ValueError(f'HDVILAVideoEncoder: {name} must be {shape}, got '
                         f'{list(x.shape)}')


def _load_branch(branch: nn.Module, state: Dict[str, torch.Tensor],
                 source: str) -> None:
    own = branch.state_dict()
    missing = [k for k in own if k not in state]
    shapes = [
        f'{k}: {list(state[k].shape)} in the file, {list(v.shape)} in the '
        'model' for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys {missing[:8]}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches {shapes[:8]}')
    if problems:
        raise ValueError(f'{source}: does not fit the ResNet: ' +
                         '; '.join(problems))
    branch.load_state_dict({k: state[k] for k in own})
