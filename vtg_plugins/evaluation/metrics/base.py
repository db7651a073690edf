"""Shared plumbing of the vtg_plugins metrics: field access on data samples,
de-duplication of the gathered results by sample id and the query ids a
submission file carries."""
import logging
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


def submitted_records(results: Sequence[dict], writer: str) -> List[dict]:
    """The ``pred`` record of each result, its ``qid`` as the annotation
    file typed it.

    Data samples key everything by the record's str ``qid``; the official
    evaluators look the submission's ids up in the annotation file, whose
    ids may be ints (QVHighlights). A result's ``source_qid`` (read from its
    sample, where the dataset and the pack transform carry it) replaces the
    record's ``qid``. A result without one keeps the ``qid`` it has; when
    that is a str, a warning names ``writer`` and how many, because its
    type may differ from the file's.

    Args:
        results (Sequence[dict]): ``{'pred': record, 'source_qid': id or
            None, ...}``.
        writer (str): who writes the file, for the warning.
    """
    records, untyped = [], []
    for r in results:
        pred, source = r['pred'], r.get('source_qid')
        if 'qid' in pred and source is not None:
            pred = dict(pred, qid=source)
        elif isinstance(pred.get('qid'), str):
            untyped.append(pred['qid'])
        records.append(pred)
    if untyped:
        print_log(
            f"{writer}: {len(untyped)} data sample(s) carry no 'source_qid' "
            f'(e.g. qid {untyped[0]!r}), so the submission writes their qids '
            'as the samples hold them, str, which may differ in type from '
            "the annotation file's ids; the pack transform should copy the "
            "record's 'source_qid' into the data sample",
            logger='current',
            level=logging.WARNING)
    return records
