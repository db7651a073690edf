"""The zero-shot CLIP similarity baseline as an MMEngine model.

CLIP (Radford et al., "Learning Transferable Visual Models From Natural
Language Supervision", ICML 2021) embeds images and texts in one space; the
embeddings are computed with open_clip (Ilharco et al.) by the shared
feature layer. The model has no parameters: the saliency of a clip is the
cosine similarity between its frame's image embedding and the query's text
embedding, and the moments are the windows of
:mod:`vtg_clip_zeroshot.models.window_rule`.
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from vtg_plugins.features.archs import canonical_arch
from vtg_plugins.registry import MODELS
from vtg_plugins.utils.config_keys import refuse_unknown_keys
from .window_rule import candidate_windows, select_moments

DEFAULT_TEST_CFG = dict(
    max_window_clips=None, nms_thres=0.7, max_num_moment=10)
#: the feature recipe the model reads (the inferencer's lowest-precedence
#: recipe source): CLIP image embeddings per frame, the query's CLIP text
#: embedding (both from the last block, k=1)
EMBEDDING_RECIPE = dict(
    k=1,
    frame_features='image_embedding',
    text_tokens='eot_ln_final_projected')
_RECIPE_HINT = ("features of recipe frame_features='image_embedding', "
                "text_tokens='eot_ln_final_projected'")


def check_test_cfg(test_cfg: Optional[dict]) -> None:
    """Refuse unknown ``test_cfg`` keys and values out of range
    (ValueError naming them)."""
    cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))
    refuse_unknown_keys('test_cfg', test_cfg or {}, DEFAULT_TEST_CFG)
    longest = cfg['max_window_clips']
    if longest is not None and not (isinstance(longest, int) and longest >= 1):
        raise ValueError(f'test_cfg.max_window_clips must be an int >= 1 or '
                         f'None, got {longest!r}')
    if not 0 < cfg['nms_thres'] <= 1:
        raise ValueError(f"test_cfg.nms_thres must lie in (0, 1], got "
                         f"{cfg['nms_thres']!r}")
    if not (isinstance(cfg['max_num_moment'], int)
            and cfg['max_num_moment'] >= 1):
        raise ValueError(f'test_cfg.max_num_moment must be an int >= 1, got '
                         f"{cfg['max_num_moment']!r}")


def _field(sample: Any, key: str) -> Any:
    """``key`` of a dict or an MMEngine data element (None if absent)."""
    return None if sample is None else sample.get(key, None)


def _videos(video: Union[Tensor, Sequence[Tensor]],
            mask: Optional[Tensor]) -> List[Tensor]:
    """Per-sample float32 ``[T_i, D]`` from a list of ``[T_i, ...]`` or a
    padded ``[B, T, ...]`` tensor with its ``[B, T]`` mask."""
    if isinstance(video, Tensor):
        if video.dim() < 3:
            raise ValueError(f'video features must be [B, T, E], got shape '
                             f'{tuple(video.shape)}')
        if mask is None:
            mask = video.new_ones(video.shape[:2], dtype=torch.bool)
        if mask.shape != video.shape[:2]:
            raise ValueError(f'video_mask shape {tuple(mask.shape)} does not '
                             f'match the features {tuple(video.shape[:2])}')
        video = [v[m.bool()] for v, m in zip(video, mask)]
    out = []
    for i, v in enumerate(video):
        if v.dim() < 2 or v.size(0) == 0:
            raise ValueError(f'sample {i}: video features must be [T, E] '
                             f'with T >= 1 ({_RECIPE_HINT}), got shape '
                             f'{tuple(v.shape)}')
        out.append(v.flatten(1).float())
    return out


def _queries(query: Union[Tensor, Sequence[Tensor]]) -> List[Tensor]:
    """Per-sample float32 ``[E]`` from ``[1, E]`` / ``[E]`` rows (a list,
    or a ``[B, 1, E]`` / ``[B, E]`` tensor)."""
    out = []
    for i, q in enumerate(query):
        if q.dim() == 2 and q.size(0) == 1:
            q = q[0]
        if q.dim() != 1:
            raise ValueError(f'sample {i}: query features must be one text '
                             f'embedding [1, E] ({_RECIPE_HINT}), got shape '
                             f'{tuple(q.shape)}')
        out.append(q.float())
    return out


@MODELS.register_module()
class CLIPZeroShotGrounder(BaseModel):
    """Zero-shot moment retrieval and highlight detection by CLIP
    similarity; no parameters.

    **Inputs** (``inputs`` dict): ``video``, a list of per-sample
    ``[T_i, E]`` CLIP image embeddings (one per clip's frame) or a padded
    ``[B, T, E]`` tensor with an optional ``video_mask`` ``[B, T]``;
    ``query``, a list of ``[1, E]`` CLIP text embeddings (or a ``[B, 1, E]``
    / ``[B, E]`` tensor). Both as the shared feature layer makes them with
    ``frame_features='image_embedding'`` and
    ``text_tokens='eot_ln_final_projected'``, in any float dtype; they are
    L2-normalised here.

    **Data samples** (dicts or data elements, one per sample): ``fps``
    (clips per second, for the windows in seconds) and optionally
    ``duration`` (s, default ``T / fps``).

    **Modes**: ``tensor`` returns ``saliency`` ``[B, T]`` (0 on padding)
    and ``video_mask`` ``[B, T]``; ``predict`` returns the data samples
    with ``pred_saliency_scores`` (the cosine similarity of each clip with
    the query, ``T_i`` floats) and ``pred_relevant_windows`` (rows
    ``[start_s, end_s, score]``, best first, by the rule of
    :mod:`~vtg_clip_zeroshot.models.window_rule`); ``loss`` raises: there
    is nothing to train.

    Args:
        arch (str): the CLIP architecture of the embeddings (the recipe's
            ``backbone``, e.g. ``'ViT-B/32'``).
        test_cfg (dict): the window rule: ``max_window_clips`` (longest
            window in clips, None: the whole video), ``nms_thres`` (IoU of
            the hard NMS, default 0.7), ``max_num_moment`` (windows kept,
            default 10).
        data_preprocessor (dict, optional): MMEngine's default moves the
            inputs to the device.
    """
    #: any number of clips in one forward: the contrast of a window is
    #: taken over the whole video (sliding windows would make it local)
    max_input_clips = None

    def __init__(self,
                 arch: str = 'ViT-B/32',
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.arch = canonical_arch(arch)
        check_test_cfg(test_cfg)
        self.test_cfg = copy.deepcopy(DEFAULT_TEST_CFG)
        self.test_cfg.update(test_cfg or {})

    @classmethod
    def validate_args(cls, args: dict) -> None:
        """The config lint's extension point: bad ``test_cfg`` keys or
        values raise ValueError."""
        check_test_cfg(args.get('test_cfg'))

    def input_feature_recipe(self) -> dict:
        """The recipe fields the model decides: the CLIP ``backbone``, its
        image embeddings per frame and text embedding per query (k=1)."""
        return dict(EMBEDDING_RECIPE, backbone=self.arch)

    # ------------------------------------------------------------------
    def saliency(self, inputs: Dict[str, Any]) -> List[Tensor]:
        """Per sample, the cosine similarity of every clip with the query:
        ``[T_i]`` float32."""
        if not isinstance(inputs, dict) or 'video' not in inputs or \
                'query' not in inputs:
            raise TypeError("CLIPZeroShotGrounder inputs must be a dict "
                            "with 'video' and 'query'")
        videos = _videos(inputs['video'], inputs.get('video_mask'))
        queries = _queries(inputs['query'])
        if len(videos) != len(queries):
            raise ValueError(f'{len(videos)} videos but {len(queries)} '
                             'queries in the batch')
        out = []
        for i, (v, q) in enumerate(zip(videos, queries)):
            if v.size(1) != q.numel():
                raise ValueError(
                    f'sample {i}: video features have {v.size(1)} channels, '
                    f'the query {q.numel()}: the baseline compares CLIP '
                    f'image and text embeddings of one CLIP ({_RECIPE_HINT})')
            out.append(F.normalize(v, dim=-1) @ F.normalize(q, dim=0))
        return out

    def forward(self,
                inputs: Dict[str, Any],
                data_samples: Optional[List[Any]] = None,
                mode: str = 'tensor') -> Union[Dict, List]:
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            sal = self.saliency(inputs)
            lengths = torch.tensor([s.numel() for s in sal])
            padded = sal[0].new_zeros(len(sal), int(lengths.max()))
            for i, s in enumerate(sal):
                padded[i, :s.numel()] = s
            mask = torch.arange(padded.size(1))[None] < lengths[:, None]
            return dict(saliency=padded, video_mask=mask.to(padded.device))
        if mode == 'loss':
            raise RuntimeError(
                'CLIPZeroShotGrounder has no parameters to train: evaluate '
                'it with tools/test.py CONFIG (no checkpoint needed)')
        raise RuntimeError(f'invalid mode {mode!r}; use predict or tensor')

    # ------------------------------------------------------------------
    # extension points of the grounding inference API (vtg_plugins.apis)
    def predict_candidates(
            self,
            inputs: Dict[str, Any],
            data_samples: Optional[List[Any]] = None) -> List[dict]:
        """Per sample, the output before NMS: ``saliency`` ``[T_i]`` and
        every candidate window, ``windows`` ``[N_i, 3]`` (start_s, end_s,
        score) in seconds from the first clip, unclamped."""
        sal = self.saliency(inputs)
        if data_samples is None or len(data_samples) != len(sal):
            got = None if data_samples is None else len(data_samples)
            raise ValueError('predict needs one data sample (with fps) per '
                             f'sample: {len(sal)} samples, {got} data '
                             'samples')
        out = []
        for i, (s, ds) in enumerate(zip(sal, data_samples)):
            fps = _field(ds, 'fps')
            if fps is None:
                raise KeyError(f'data sample {i} (qid={_field(ds, "qid")!r}) '
                               'lacks fps, needed for windows in seconds')
            windows = candidate_windows(s, 1.0 / float(fps),
                                        self.test_cfg['max_window_clips'])
            out.append(dict(saliency=s, windows=windows))
        return out

    def merge_candidates(self, candidates: Dict[str, Tensor],
                         duration: float) -> Tensor:
        """Clamping and hard NMS of the ``windows`` ``[N, 3]`` of one video
        (video seconds), as in :meth:`predict`: ``[K, 3]``, best first."""
        return select_moments(candidates['windows'], duration,
                              self.test_cfg['nms_thres'],
                              self.test_cfg['max_num_moment'])

    def predict(self,
                inputs: Dict[str, Any],
                data_samples: Optional[List[Any]] = None) -> List[Any]:
        """The data samples with ``pred_saliency_scores`` and
        ``pred_relevant_windows`` set (data fields of a data element, keys
        of a dict)."""
        outputs = []
        for ds, cand in zip(data_samples or [],
                            self.predict_candidates(inputs, data_samples)):
            duration = _field(ds, 'duration')
            if duration is None:
                duration = cand['saliency'].numel() / float(_field(ds, 'fps'))
            pred = dict(
                pred_relevant_windows=self.merge_candidates(
                    cand, float(duration)).tolist(),
                pred_saliency_scores=cand['saliency'].detach().cpu().tolist())
            if isinstance(ds, BaseDataElement):
                ds.set_data(pred)
                outputs.append(ds)
            else:
                outputs.append({**ds, **pred})
        return outputs
