"""Move HD-VILA batches to the device and normalise their images."""
from typing import Any, Dict, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from vtg_plugins.registry import MODELS

#: image inputs and their shapes after collation
_IMAGE_KEYS = {
    'keyframes': '[B, clips, 3, Hk, Wk]',
    'frames': '[B, clips, T-1, 3, Hl, Wl]',
}


@MODELS.register_module()
class HDVILADataPreprocessor(BaseDataPreprocessor):
    """Cast a batch to the device and normalise ``keyframes`` / ``frames``.

    The input is a collated batch, ``dict(inputs=dict(keyframes=uint8
    [B, clips, 3, Hk, Wk], frames=uint8 [B, clips, T-1, 3, Hl, Wl]),
    data_samples=[...])`` (RGB, 0..255); per-item lists (``pseudo_collate``)
    are stacked. Either image key may be absent (keyframe-only or
    frames-only models). The images become float32 ``(x - mean) / std`` on
    the 0..255 scale; everything else is only moved to the device.

    Args:
        mean: per-channel RGB mean (official ImageNet values).
        std: per-channel RGB std.
        non_blocking: passed to the device copy.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('HDVILADataPreprocessor: mean and std need 3 '
                             f'(RGB) values, got {list(mean)} and {list(std)}')
        self.register_buffer('mean', torch.tensor(mean).view(3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(3, 1, 1), False)

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        inputs = dict(data['inputs'])
        present = [k for k in _IMAGE_KEYS if inputs.get(k) is not None]
        if not present:
            raise ValueError('HDVILADataPreprocessor: the batch has neither '
                             f'keyframes nor frames (keys: {sorted(inputs)})')
        for key in present:
            inputs[key] = _stacked(inputs[key], key)
        data = self.cast_data(dict(data, inputs=inputs))
        for key in present:
            images = data['inputs'][key]
            ndim = _IMAGE_KEYS[key].count(',') + 1
            if images.dim() != ndim or images.shape[-3] != 3:
                raise ValueError(
                    f'HDVILADataPreprocessor: {key} must be '
                    f'{_IMAGE_KEYS[key]}, got {list(images.shape)}')
            data['inputs'][key] = (images.float() - self.mean) / self.std
        return data


def _stacked(images, key: str) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) != 1:
        raise ValueError(f'HDVILADataPreprocessor: the items\' {key} differ '
                         f'in shape: {sorted(shapes)}')
    return torch.stack(list(images))
