"""Batch TempCLR items: concatenate their rows, flatten their samples."""
from typing import Any, Dict, List, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import MODELS

_KEYS = ('vfeats', 'vmasks', 'caps', 'cmasks')


def _flatten(samples: Sequence[Union[BaseDataElement, Sequence]]
             ) -> List[BaseDataElement]:
    flat = []
    for item in samples:
        if isinstance(item, (list, tuple)):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _items_of(inputs: dict) -> List[dict]:
    """One batched input dict, or ``pseudo_collate``'s dict of per-item
    lists, as a list of per-item dicts."""
    if all(isinstance(v, (list, tuple)) for v in inputs.values()):
        lengths = {len(v) for v in inputs.values()}
        if len(lengths) != 1:
            raise ValueError('TempCLRDataPreprocessor: the input lists have '
                             f'different lengths {sorted(lengths)}')
        return [dict(zip(inputs, row)) for row in zip(*inputs.values())]
    return [inputs]


@MODELS.register_module()
class TempCLRDataPreprocessor(BaseDataPreprocessor):
    """Concatenate the rows of a batch of TempCLR items.

    Each item of a ``tempclr_collate`` batch (``pseudo_collate`` works too
    while every item holds one sample) holds ``inputs`` with
    ``vfeats [Nv_i, Lv, D]``, ``vmasks [Nv_i, Lv]``, ``caps [Nt_i, Lt]``,
    ``cmasks [Nt_i, Lt]`` and ``data_samples`` as one element or a list of
    elements (a HowTo100M group of videos). The result holds the rows of all
    items in order (``vfeats [sum Nv_i, Lv, D]``, ...) and one flat list of
    samples; each sample owns the next ``num_video_rows`` video rows and
    ``num_text_rows`` caption rows, which the function checks.
    """

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        inputs = data['inputs']
        if isinstance(inputs, dict):
            inputs = _items_of(inputs)
        batched = {}
        for key in _KEYS:
            rows = [item[key] for item in inputs]
            batched[key] = torch.cat([torch.as_tensor(r) for r in rows])
        batched['vfeats'] = batched['vfeats'].float()
        samples = _flatten(data.get('data_samples') or [])
        self._check_rows(batched, samples)
        batched = self.cast_data(batched)
        samples = [s.to(self.device) for s in samples]
        return dict(inputs=batched, data_samples=samples)

    @staticmethod
    def _check_rows(batched: dict, samples: List[BaseDataElement]) -> None:
        for field, key in (('num_video_rows', 'vfeats'),
                           ('num_text_rows', 'caps')):
            counts = [s.get(field) for s in samples]
            if None in counts:
                continue
            if sum(counts) != len(batched[key]):
                raise ValueError(
                    f'TempCLRDataPreprocessor: samples claim {sum(counts)} '
                    f'{key} rows ({field}) but the batch holds '
                    f'{len(batched[key])}')
