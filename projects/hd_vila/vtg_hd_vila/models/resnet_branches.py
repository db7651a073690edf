"""The two ResNet branches of HD-VILA's video encoder, on torchvision.

HD-VILA runs an mmdetection-style ResNet (``style='pytorch'``: the stride
sits on the 3x3 conv) on the high-resolution keyframe and a second one on the
low-resolution frames. torchvision's ResNet is the same network with the same
parameter names (``conv1``, ``bn1``, ``layer{i}.{j}.conv{k}/bn{k}``,
``layer{i}.{j}.downsample.{0,1}``), so mmdetection ResNet checkpoints load
with no key mapping. :class:`HDVILAResNet` adds what the official backbone
does on top of a plain ResNet:

- ``frozen_stages``: stages whose parameters stop receiving gradients and
  whose BatchNorms stay in eval mode (0 is the stem ``conv1``/``bn1``, ``i``
  also freezes ``layer1`` .. ``layer{i}``, -1 freezes nothing; every official
  config uses -1);
- ``norm_eval``: every BatchNorm stays in eval mode while the module trains
  (the running statistics never update; the affine parameters still train).
  The official model keeps mmdetection's default, True;
- ``num_stages``: the low-resolution branch only ever runs to stage 3, so it
  is built without ``layer4`` (the official model builds it and never uses
  it; leaving it out keeps every parameter in the graph for DDP).

The classifier (``avgpool``/``fc``) is left out: HD-VILA reads feature maps.
"""
from typing import Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

#: depth -> (block, blocks per stage), as mmdetection's ``arch_settings``
ARCH_SETTINGS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class HDVILAResNet(ResNet):
    """A torchvision ResNet returning its stage feature maps, with
    mmdetection's ``frozen_stages`` / ``norm_eval`` behaviour.

    Args:
        depth: 18, 34, 50, 101 or 152 (HD-VILA: 50).
        num_stages: stages built, 1..4 (the keyframe branch 4, the
            low-resolution branch 3).
        frozen_stages: -1 (none), 0 (stem) or up to ``num_stages``
            (stem and ``layer1`` .. ``layer{frozen_stages}``).
        norm_eval: keep every BatchNorm in eval mode in training.

    Shapes: input ``[N, 3, H, W]``; stage ``i`` (1-based) gives
    ``[N, stage_channels[i-1], H / 2**(i+1), W / 2**(i+1)]`` (strides 4, 8,
    16, 32; ResNet-50 channels 256, 512, 1024, 2048).
    """

    def __init__(self,
                 depth: int = 50,
                 num_stages: int = 4,
                 frozen_stages: int = -1,
                 norm_eval: bool = True) -> None:
        if depth not in ARCH_SETTINGS:
            raise ValueError(f'HDVILAResNet: depth must be one of '
                             f'{sorted(ARCH_SETTINGS)}, got {depth}')
        if not 1 <= num_stages <= 4:
            raise ValueError(
                f'HDVILAResNet: num_stages must be 1..4, got {num_stages}')
        in_range = isinstance(frozen_stages, int) and frozen_stages >= -1
        if not in_range or frozen_stages > num_stages:
            raise ValueError(
                f'HDVILAResNet: frozen_stages must be an int in -1..'
                f'{num_stages}, got {frozen_stages!r}')
        block, layers = ARCH_SETTINGS[depth]
        super().__init__(block, list(layers))
        del self.avgpool, self.fc
        for i in range(num_stages + 1, 5):
            delattr(self, f'layer{i}')
        self.num_stages = num_stages
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.stage_channels = tuple(64 * 2**i * block.expansion
                                    for i in range(num_stages))
        self._freeze_stages()

    def _frozen_modules(self):
        if self.frozen_stages >= 0:
            yield from (self.conv1, self.bn1)
        for i in range(1, self.frozen_stages + 1):
            yield getattr(self, f'layer{i}')

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'HDVILAResNet':
        """Set the mode, then put frozen stages (and, with ``norm_eval``,
        every BatchNorm) back in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """All stage outputs: a tuple of ``num_stages`` feature maps."""
        x = self._stem(x)
        outs = []
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f'layer{i}')(x)
            outs.append(x)
        return tuple(outs)

    def forward_to_stage(self, x: torch.Tensor, stage: int) -> torch.Tensor:
        """The output of stage ``stage`` (1-based), running no later stage
        (the official ``forward_to_stage(x, stage=2)`` is ``stage=3``)."""
        if not 1 <= stage <= self.num_stages:
            raise ValueError(f'HDVILAResNet.forward_to_stage: stage must be '
                             f'1..{self.num_stages}, got {stage}')
        x = self._stem(x)
        for i in range(1, stage + 1):
            x = getattr(self, f'layer{i}')(x)
        return x
