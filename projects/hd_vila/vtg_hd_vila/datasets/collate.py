"""The collate function of HD-VILA data loaders.

MMEngine's Runner looks a ``collate_fn`` type up in its root registry, which
does not reach project scopes, and then imports dotted paths; configs name
this one ``dict(type='vtg_hd_vila.datasets.collate.hd_vila_collate')``.
"""
from typing import List, Sequence

import torch

#: (ids, mask) pairs of data-sample text fields
TEXT_PAIRS = (('text_ids', 'text_mask'), ('option_ids', 'option_mask'))


def _stack(data_batch: Sequence[dict], key: str) -> torch.Tensor:
    tensors = [item['inputs'][key] for item in data_batch]
    shapes = sorted({tuple(t.shape) for t in tensors})
    if len(shapes) > 1:
        raise ValueError(
            f'hd_vila_collate: the items\' {key} have different shapes '
            f'{shapes}; every item of a batch needs the same clips and '
            'crop (one pipeline per loader)')
    return torch.stack(tensors)


def trim_text(samples: List, ids_key: str, mask_key: str) -> None:
    """Cut the samples' ``ids_key`` / ``mask_key`` (``[..., L]``, padded
    on the right) to the longest real length in the batch, in place."""
    if not all(mask_key in s for s in samples):
        return
    length = max(int(s.get(mask_key).sum(-1).max()) for s in samples)
    for s in samples:
        s.set_field(s.get(ids_key)[..., :length].contiguous(), ids_key)
        s.set_field(s.get(mask_key)[..., :length].contiguous(), mask_key)


def hd_vila_collate(data_batch: Sequence[dict], trim: bool = True) -> dict:
    """Stack the items' images and cut their text to the batch's longest.

    The official collators pad every string to ``max_txt_len``; the items
    hold exactly those rows (see :mod:`.text`), and ``trim`` cuts the
    columns that are padding in the whole batch. As the padded positions
    are masked, both give the same model outputs.

    Args:
        data_batch (Sequence[dict]): items ``dict(inputs=dict(keyframes
            [clips, 3, Hk, Wk], frames [clips, T - 1, 3, Hl, Wl]),
            data_samples=ActionDataSample)`` (:class:`PackHDVILAInputs`).
        trim (bool): cut the text to the batch's longest (False keeps
            ``max_txt_len``, the official length).

    Returns:
        dict: ``inputs=dict(keyframes uint8 [B, clips, 3, Hk, Wk], frames
        uint8 [B, clips, T - 1, 3, Hl, Wl])`` and ``data_samples`` (the
        list of samples; ``text_ids`` / ``text_mask`` ``[L]`` or
        ``option_ids`` / ``option_mask`` ``[K, L]`` with one ``L`` for the
        batch).

    Raises:
        TypeError: an item that is not a packed HD-VILA item.
        ValueError: items with different image shapes.
    """
    for index, item in enumerate(data_batch):
        if not isinstance(item, dict) or not isinstance(
                item.get('inputs'), dict) or 'data_samples' not in item:
            raise TypeError(f'hd_vila_collate: item {index} of the batch is '
                            f'{type(item).__name__}, not a dict with '
                            '"inputs" and "data_samples" (the output of '
                            'PackHDVILAInputs)')
    samples = [item['data_samples'] for item in data_batch]
    if trim:
        for ids_key, mask_key in TEXT_PAIRS:
            trim_text(samples, ids_key, mask_key)
    return dict(
        inputs=dict(
            keyframes=_stack(data_batch, 'keyframes'),
            frames=_stack(data_batch, 'frames')),
        data_samples=samples)
