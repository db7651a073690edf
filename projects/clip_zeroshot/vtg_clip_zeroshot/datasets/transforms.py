"""Packing of the shared grounding dataset's samples for the zero-shot
baseline."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from vtg_plugins.registry import TRANSFORMS

_SAMPLE_KEYS = ('qid', 'source_qid', 'vid', 'query', 'duration')


@TRANSFORMS.register_module()
class PackZeroShotInputs(BaseTransform):
    """Pack a :class:`~vtg_plugins.datasets.GroundingDataset` data info
    into ``dict(inputs, data_samples)``.

    ``inputs``: ``video`` ``[T, E]`` (one CLIP image embedding per clip)
    and ``query`` ``[1, E]`` (the CLIP text embedding), as stored.
    ``data_samples``: a ``BaseDataElement`` whose metainfo holds ``qid``,
    ``vid``, ``query``, ``duration``, ``fps`` (``1 / clip_len``) and the
    ground truth in the official QVHighlights evaluation format
    (``relevant_windows`` as annotated, ``relevant_clip_ids`` +
    ``saliency_scores`` where the record has clip scores), which the shared
    metrics read beside the predictions.

    Required keys: ``video_feat``, ``query_feat``, ``clip_len``.
    """

    def transform(self, info: dict) -> dict:
        video = np.ascontiguousarray(info['video_feat'])
        query = np.ascontiguousarray(info['query_feat'])
        inputs = dict(
            video=torch.from_numpy(video.reshape(video.shape[0], -1)),
            query=torch.from_numpy(query.reshape(query.shape[0], -1)))
        meta = {k: info[k] for k in _SAMPLE_KEYS if k in info}
        meta['fps'] = 1.0 / info['clip_len']
        if 'windows' in info:
            meta['relevant_windows'] = info['windows']
        ids = info.get('extra', {}).get('relevant_clip_ids')
        if ids is not None and info.get('saliency') is not None:
            meta['relevant_clip_ids'] = ids
            meta['saliency_scores'] = [info['saliency'][i] for i in ids]
        return dict(inputs=inputs, data_samples=BaseDataElement(metainfo=meta))
