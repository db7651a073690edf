"""GroundNLQ inference: batched prediction, decoding (pre-NMS candidates,
NMS, seconds), and the extension points of the grounding inference API
(:mod:`vtg_plugins.apis`) that run long videos as sliding windows merged
with the same NMS.

``inference_single_video`` and ``postprocessing`` of
github.com/houzhijian/GroundNLQ ``libs/modeling/meta_archs.py``.
"""
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor

from vtg_plugins.models.nms import batched_nms_1d
from .postprocess import candidates_single, grid_to_seconds


def sample_get(sample, key: str, default=None):
    """Field of a data sample (``dict`` or ``BaseDataElement``)."""
    return sample.get(key, default)


class GroundNLQInference:
    """The inference methods of :class:`~vtg_groundnlq.models.GroundNLQ`.

    A mixin of the model: it uses its ``forward_features``,
    ``padded_length``, ``max_seq_len``, ``test_cfg`` and ``time_cfg``.
    """

    def _time(self, sample, key: str) -> float:
        value = sample_get(sample, key)
        return float(self.time_cfg[key] if value is None else value)

    def _forward_groups(
            self, inputs: dict,
            data_samples: Sequence) -> Iterator[Tuple[List[int], dict, list]]:
        """``(indices, forward_features output, samples)`` per group of
        clips with the same padded length; every group pads its queries to
        the longest query of the batch, as one official padded batch
        does."""
        groups: Dict[int, List[int]] = {}
        for i, v in enumerate(inputs['video']):
            groups.setdefault(self.padded_length(v.shape[0]), []).append(i)
        query_length = max(q.shape[0] for q in inputs['query'])
        for idx in groups.values():
            sub_inputs = {k: [v[i] for i in idx] for k, v in inputs.items()}
            sub_samples = [data_samples[i] for i in idx]
            yield idx, self.forward_features(sub_inputs, sub_samples,
                                             query_length), sub_samples

    def predict(self, inputs: dict, data_samples: Sequence) -> list:
        """Predictions, computed per group of clips with the same padded
        length, so no clip is padded beyond its own rounded length; the
        outputs equal those of the official model on the same batch (which
        pads every clip to ``max_seq_len`` and the queries to the longest
        of the batch)."""
        results = [None] * len(data_samples)
        for idx, out, sub_samples in self._forward_groups(
                inputs, data_samples):
            for i, res in zip(idx, self.predict_by_feat(out, sub_samples)):
                results[i] = res
        return results

    # ------------------------------------------------------------------
    def candidates(self, out: Dict[str, list]) -> List[Dict[str, Tensor]]:
        """Pre-NMS candidates per clip (feature-grid segments)."""
        cfg = self.test_cfg
        return [
            candidates_single(out['points'], [m[b] for m in out['masks']],
                              [c[b] for c in out['cls_logits']],
                              [o[b]
                               for o in out['offsets']], cfg['pre_nms_thresh'],
                              cfg['pre_nms_topk'], cfg['duration_thresh'])
            for b in range(out['masks'][0].shape[0])
        ]

    def nms(self, segs: Tensor, scores: Tensor,
            labels: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """The ``test_cfg`` NMS of one clip's candidates: ``segs [N, 2]``
        (feature grid or seconds: the selection depends on IoUs and
        scores only), ``scores [N]``, ``labels [N]``; returns the kept
        ones, best first (all of them for ``nms_method='none'``)."""
        cfg = self.test_cfg
        if cfg['nms_method'] == 'none':
            return segs, scores, labels
        return batched_nms_1d(
            segs,
            scores,
            labels,
            cfg['iou_threshold'],
            cfg['min_score'],
            cfg['max_seg_num'],
            use_soft_nms=cfg['nms_method'] == 'soft',
            multiclass=cfg['multiclass_nms'],
            sigma=cfg['nms_sigma'],
            voting_thresh=cfg['voting_thresh'])

    def postprocess(self, cand: Dict[str, Tensor],
                    sample) -> Dict[str, Tensor]:
        """NMS and conversion to seconds for one clip.

        Returns:
            dict: ``segments [K, 2]`` seconds, ``scores [K]``,
            ``labels [K]``.
        """
        segs, scores, labels = self.nms(cand['segments'].detach().cpu(),
                                        cand['scores'].detach().cpu(),
                                        cand['labels'].detach().cpu())
        duration = sample_get(sample, 'duration')
        if duration is None:
            raise ValueError(f'qid={sample_get(sample, "qid")!r} has no '
                             f'duration (needed to clamp predictions)')
        segs = grid_to_seconds(segs, self._time(sample, 'fps'),
                               self._time(sample, 'feat_stride'),
                               self._time(sample, 'feat_num_frames'),
                               float(duration),
                               self.test_cfg['half_frame_offset'])
        return dict(segments=segs, scores=scores, labels=labels)

    @torch.no_grad()
    def predict_by_feat(self, out: Dict[str, list],
                        data_samples: Sequence) -> list:
        results = []
        for cand, sample in zip(self.candidates(out), data_samples):
            res = self.postprocess(cand, sample)
            windows = torch.cat([res['segments'], res['scores'][:, None]], 1)
            if isinstance(sample, dict):
                sample = BaseDataElement(metainfo=sample)
            sample.pred_relevant_windows = windows
            results.append(sample)
        return results

    # ------------------------------------------------------------------
    # extension points of the grounding inference API (vtg_plugins.apis)
    @property
    def max_input_clips(self) -> int:
        """Longest clip sequence one forward takes as trained:
        ``max_seq_len``, the length of the position table (a longer clip
        would read a resized one)."""
        return self.max_seq_len

    @torch.no_grad()
    def predict_candidates(self, inputs: dict,
                           data_samples: Sequence) -> List[Dict[str, Tensor]]:
        """Per sample, the pre-NMS candidates of :meth:`predict`:
        ``windows`` ``[N, 3]`` (start_s, end_s, score) in seconds from the
        first feature (with the ``half_frame_offset`` of ``predict``, not
        clamped) and their class ``labels`` ``[N]``."""
        results = [None] * len(data_samples)
        for idx, out, sub_samples in self._forward_groups(
                inputs, data_samples):
            for i, cand, sample in zip(idx, self.candidates(out), sub_samples):
                segs = grid_to_seconds(cand['segments'].detach().cpu(),
                                       self._time(sample, 'fps'),
                                       self._time(sample, 'feat_stride'),
                                       self._time(sample,
                                                  'feat_num_frames'), None,
                                       self.test_cfg['half_frame_offset'])
                scores = cand['scores'].detach().cpu()
                results[i] = dict(
                    windows=torch.cat([segs, scores[:, None]], 1),
                    labels=cand['labels'].detach().cpu())
        return results

    def merge_candidates(self, candidates: Dict[str, Tensor],
                         duration: float) -> Tensor:
        """The post-processing of :meth:`predict` on the candidates of
        several windows of one video (``windows`` ``[N, 3]`` in video
        seconds, ``labels`` ``[N]``): :meth:`nms`, then the segments
        clamped to ``[0, duration]``.

        Returns:
            Tensor: ``[K, 3]`` rows ``(start_s, end_s, score)``, best first.
        """
        rows = candidates['windows'].detach().cpu()
        segs, scores, _ = self.nms(rows[:, :2], rows[:, 2],
                                   candidates['labels'].detach().cpu())
        segs = segs.clamp(min=0.0, max=float(duration))
        return torch.cat([segs, scores[:, None]], 1)
