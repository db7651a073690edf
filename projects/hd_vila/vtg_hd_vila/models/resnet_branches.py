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

A BatchNorm in eval mode (always, with ``norm_eval``) is an affine map of
its input, so :func:`conv_bn` runs it folded into the preceding convolution
(scaled weights, a bias): the same function of the same parameters
(gradients reach the conv and BN parameters through the folding), without
the BatchNorm's pass over the feature map and without keeping the conv
output for the BatchNorm's backward (about half the ResNet's activation
memory in training). :func:`block_forward` runs torchvision's residual
blocks that way; a BatchNorm in training mode runs as usual. The branches
compute in the channels-last memory format (oneDNN's fast path on the CPU;
the stage maps come out channels-last, same shapes and values).
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
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
#: memory format the branches compute in (channels-last: oneDNN's fast
#: convolutions on the CPU)
MEMORY_FORMAT = torch.channels_last


def conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d,
            x: torch.Tensor) -> torch.Tensor:
    """``bn(conv(x))``; with ``bn`` in eval mode one convolution with the
    BatchNorm folded in (``w * s``, bias ``beta - mean * s``, ``s = gamma /
    sqrt(var + eps)``). torchvision's ResNet convolutions have no bias."""
    if bn.training:
        return bn(conv(x))
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return F.conv2d(x, conv.weight * scale.view(-1, 1, 1, 1),
                    bn.bias - bn.running_mean * scale, conv.stride,
                    conv.padding, conv.dilation, conv.groups)


def block_forward(block: Union[BasicBlock, Bottleneck],
                  x: torch.Tensor) -> torch.Tensor:
    """``block(x)`` (torchvision's ``BasicBlock`` / ``Bottleneck``: conv-BN
    pairs with ReLUs between, the shortcut added before the last ReLU), each
    conv-BN pair through :func:`conv_bn`."""
    pairs = [(block.conv1, block.bn1), (block.conv2, block.bn2)]
    if isinstance(block, Bottleneck):
        pairs.append((block.conv3, block.bn3))
    out = x
    for i, (conv, bn) in enumerate(pairs):
        out = conv_bn(conv, bn, out)
        if i < len(pairs) - 1:
            out = F.relu(out, inplace=True)
    if block.downsample is not None:
        x = conv_bn(block.downsample[0], block.downsample[1], x)
    out += x
    return F.relu(out, inplace=True)


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
        x = x.contiguous(memory_format=MEMORY_FORMAT)
        return self.maxpool(
            F.relu(conv_bn(self.conv1, self.bn1, x), inplace=True))

    def _stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        for block in getattr(self, f'layer{i}'):
            x = block_forward(block, x)
        return x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """All stage outputs: a tuple of ``num_stages`` feature maps."""
        x = self._stem(x)
        outs = []
        for i in range(1, self.num_stages + 1):
            x = self._stage(i, x)
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
            x = self._stage(i, x)
        return x
