"""Shared plumbing of the vtg_plugins metrics: field access on data samples
and de-duplication of the gathered results by sample id."""
from typing import Any, Hashable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

_MISSING = object()


def to_plain(x: Any) -> Any:
    """Tensors / arrays / numpy scalars to Python lists and numbers."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist()
    if isinstance(x, (np.ndarray, np.generic)):
        return x.tolist()
    return x


def get_field(sample: Any, *names: str, default: Any = _MISSING) -> Any:
    """First of ``names`` found in a data sample.

    Looks in a dict (and its ``extra`` dict), or in a ``BaseDataElement``'s
    data and metainfo fields. Raises a ``KeyError`` naming all ``names``
    and the sample's id when nothing is found and no default is given.
    """
    for name in names:
        if isinstance(sample, BaseDataElement):
            if name in sample:
                return to_plain(sample.get(name))
            extra = sample.get('extra', None)
        elif isinstance(sample, dict):
            if name in sample:
                return to_plain(sample[name])
            extra = sample.get('extra')
        else:
            raise TypeError(f'data sample must be a dict or BaseDataElement, '
                            f'got {type(sample).__name__}')
        if isinstance(extra, dict) and name in extra:
            return to_plain(extra[name])
    if default is not _MISSING:
        return default
    ident = None
    for key in ('qid', 'vid', 'question_id', 'sample_idx'):
        ident = get_field(sample, key, default=None)
        if ident is not None:
            ident = f'{key}={ident!r}'
            break
    raise KeyError(f'data sample {ident or "(no id)"} has none of the '
                   f'fields {list(names)}')


class KeyedMetric(BaseMetric):
    """A ``BaseMetric`` whose ``self.results`` are dicts with a ``'key'``.

    ``compute_metrics`` receives the results gathered from all ranks; a key
    seen twice (the distributed sampler pads the last batch by repeating
    samples) is counted once, keeping its first occurrence.
    """

    def dedupe(self, results: Sequence[dict]) -> List[dict]:
        seen, out = set(), []
        for r in results:
            key: Optional[Hashable] = r['key']
            if key in seen:
                continue
            seen.add(key)
            out.append(r)
        if len(out) < len(results):
            print_log(
                f'{type(self).__name__}: dropped {len(results) - len(out)} '
                f'duplicated samples (distributed padding)',
                logger='current')
        return out
