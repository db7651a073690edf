"""The collate function of TempCLR data loaders.

MMEngine's Runner looks a ``collate_fn`` type up in its root registry, which
does not reach project scopes, and then imports dotted paths; configs name
this one ``dict(type='vtg_tempclr.datasets.collate.tempclr_collate')``.
"""
from typing import List, Sequence


def tempclr_collate(data_batch: Sequence[dict]) -> dict:
    """Keep each item's ``inputs`` and ``data_samples`` whole.

    ``pseudo_collate`` transposes lists, which would interleave the
    per-video samples of HowTo100M groups; TempCLR items instead travel as
    they are and :class:`TempCLRDataPreprocessor` concatenates their rows.

    Args:
        data_batch (Sequence[dict]): items
            ``dict(inputs=dict(vfeats, vmasks, caps, cmasks),
            data_samples=sample or [samples])``.

    Returns:
        dict: ``inputs`` (list of the items' input dicts) and
        ``data_samples`` (list of the items' samples or sample lists).
    """
    inputs: List[dict] = []
    samples: list = []
    for index, item in enumerate(data_batch):
        if not isinstance(item, dict) or 'inputs' not in item:
            raise TypeError(f'tempclr_collate: item {index} of the batch is '
                            f'{type(item).__name__}, not a dict with '
                            f'"inputs" (the output of PackTempCLRInputs)')
        inputs.append(item['inputs'])
        samples.append(item.get('data_samples'))
    return dict(inputs=inputs, data_samples=samples)
