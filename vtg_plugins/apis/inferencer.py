"""Moment retrieval on a video file (or its features) and free-text queries.

:class:`MomentRetrievalInferencer` builds a grounding model (R²-Tuning: Liu
et al., arXiv 2404.00801, github.com/yeliudev/R2-Tuning) from its config and
checkpoint, and the CLIP feature extractor of the *recipe the checkpoint was
trained on* (backbone, last-k layers, fps, crop, dtype; DESIGN.md §2
``apis/``), so a custom video gets the same features as the training store.

A video is decoded and encoded once, whatever the number of queries; the
queries are encoded together and run as one batch through the model's
``predict`` (batched inference gives exactly the per-sample outputs of the
official batch-1 test path). Videos longer than ``max_clips`` clips run as
overlapping sliding windows whose candidate moments are merged with the
model's own post-processing (:func:`vtg_plugins.models.r2_postprocess`).
"""
import contextlib
import copy
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import import_modules_from_strings
from torch import Tensor

from vtg_plugins.datasets.feature_stores import RECIPE_KEYS, check_recipe
from vtg_plugins.models.clip_encoder import CLIP_ARCHS, canonical_arch
from vtg_plugins.models.segment_ops import r2_postprocess
from vtg_plugins.registry import INFERENCERS, MODELS
from .features import FeatureExtractor, FeatureRecipe, build_extractor_from_meta

PathLike = Union[str, os.PathLike]
VideoInput = Union[PathLike, np.ndarray, Tensor]
Span = Tuple[int, int]


def _dataset_cfg(cfg: Config) -> dict:
    """The test (else val, else train) dataset config, wrappers removed."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        ds = (cfg.get(key) or {}).get('dataset')
        while isinstance(ds, dict) and 'dataset' in ds:  # RepeatDataset, ...
            ds = ds['dataset']
        if ds:
            return ds
    return {}


def resolve_recipe(cfg: Config,
                   ckpt_meta: Optional[dict] = None,
                   recipe: Union[dict, FeatureRecipe, None] = None) -> dict:
    """The feature recipe a checkpoint was trained on.

    Sources, lowest to highest precedence (later ones override earlier
    ones key by key):

    1. derived from the config: ``backbone`` = ``model.arch`` when it names a
       CLIP architecture, ``k`` = ``model.k``, ``fps`` = 1 / the test
       dataset's ``ann_kwargs.clip_len`` (or ``clip_len``);
    2. the config's top-level ``recipe`` or, if it has none, the test
       dataset's ``recipe`` (what the datasets check the stores against);
    3. the checkpoint's ``meta['feature_recipe']``: the store recipe
       recorded at training time;
    4. the ``recipe`` argument.

    Keys missing everywhere take the :class:`FeatureRecipe` defaults
    (official R²-Tuning: 0.5 fps, 224 px crop, fp16). The dict may also hold
    ``model_cfg`` (an open_clip config, e.g. a reduced width) and
    ``layers`` (checked against the extractor).

    Raises:
        ValueError: no source names the CLIP backbone.
    """
    out: Dict[str, Any] = {}
    model = cfg.get('model') or {}
    arch = model.get('arch')
    if isinstance(arch, str):
        with contextlib.suppress(ValueError):  # not a CLIP name
            out['backbone'] = canonical_arch(arch)
    if model.get('k') is not None:
        out['k'] = int(model['k'])
    ds = _dataset_cfg(cfg)
    clip_len = (ds.get('ann_kwargs') or {}).get('clip_len', ds.get('clip_len'))
    if clip_len:
        out['fps'] = 1.0 / float(clip_len)
    out.update(copy.deepcopy(cfg.get('recipe') or ds.get('recipe') or {}))
    out.update((ckpt_meta or {}).get('feature_recipe') or {})
    if isinstance(recipe, FeatureRecipe):
        recipe = {k: v for k, v in vars(recipe).items() if v is not None}
    out.update(recipe or {})
    if 'backbone' not in out:
        raise ValueError(
            f'cannot tell the CLIP backbone of this model (model.arch='
            f'{arch!r}): give recipe=dict(backbone=...), one of '
            f'{sorted(CLIP_ARCHS)}, in the config or the call')
    return out


def sliding_windows(num_clips: int, max_clips: Optional[int],
                    overlap: float) -> List[Span]:
    """``[start, end)`` clip spans covering ``num_clips`` clips.

    One span when ``max_clips`` is None or not exceeded; otherwise spans of
    exactly ``max_clips`` clips every ``round(max_clips * (1 - overlap))``
    clips, the last one ending at ``num_clips``.
    """
    if max_clips is None or num_clips <= max_clips:
        return [(0, num_clips)]
    if not 0 <= overlap < 1:
        raise ValueError(f'window overlap must lie in [0, 1), got {overlap}')
    stride = max(1, round(max_clips * (1 - overlap)))
    starts = list(range(0, num_clips - max_clips, stride))
    return [(s, s + max_clips) for s in starts + [num_clips - max_clips]]


def merge_windows(raws: Sequence[dict], spans: Sequence[Span], clip_len: float,
                  duration: float, max_num_moment: int,
                  test_cfg: dict) -> dict:
    """Merge one query's raw outputs on sliding windows.

    Args:
        raws: per window, ``saliency`` ``[t_w]`` and optionally
            ``boundary`` ``[N_w, 3]`` (start_s, end_s, score) relative to
            the window start (the model's ``predict_raw``).
        spans: the ``[start, end)`` clip span of each window.
        clip_len (float): seconds per clip.
        duration (float): video duration (s).
        max_num_moment (int): candidates kept, by score, before NMS (as the
            model keeps its top points per window).
        test_cfg (dict): ``unit`` and ``nms_cfg`` of the post-processing.

    Returns:
        dict: ``pred_saliency_scores`` (the mean over the windows covering a
        clip) and ``pred_relevant_windows`` (all windows' candidates shifted
        to video time, the top ``max_num_moment`` post-processed together);
        the latter only when the raws carry boundaries.
    """
    num_clips = spans[-1][1]
    total = torch.zeros(num_clips, dtype=torch.float64)
    count = torch.zeros(num_clips, dtype=torch.float64)
    for raw, (start, end) in zip(raws, spans):
        total[start:end] += raw['saliency'].detach().cpu().double()
        count[start:end] += 1
    out = dict(pred_saliency_scores=(total / count).float().tolist())
    if 'boundary' in raws[0]:
        rows = torch.cat([
            raw['boundary'].detach().cpu().float() +
            torch.tensor([start * clip_len, start * clip_len, 0.])
            for raw, (start, _) in zip(raws, spans)
        ])
        order = rows[:, 2].sort(descending=True, stable=True)[1]
        rows = rows[order[:max_num_moment]]
        out['pred_relevant_windows'] = r2_postprocess(
            rows, float(duration), test_cfg.get('unit'),
            test_cfg.get('nms_cfg')).tolist()
    return out


def probe_duration(path: PathLike) -> Optional[float]:
    """Duration (s) of a video's first video stream from its container
    metadata (PyAV), or None when it states none."""
    import av
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
    except (av.FFmpegError, IndexError):  # decord could read it, PyAV not
        pass
    return None


@INFERENCERS.register_module()
class MomentRetrievalInferencer:
    """Moments and saliency of free-text queries in a video.

    Args:
        config (str | Config | dict): the model's config (file path or
            object); its ``custom_imports`` are imported and its
            ``default_scope`` (default ``'vtg_plugins'``) is set.
        checkpoint (str, optional): model weights, a local path or a URL,
            loaded with :func:`mmengine.runner.load_checkpoint` (strict).
            None keeps the random initialisation (tests).
        device (str): torch device. Default ``'cpu'``.
        clip_checkpoint (str, optional): local CLIP weights for the feature
            extractor (never downloaded); None = random-init CLIP, which
            only makes sense for tests (warns). Must match the recipe's
            ``weights_hash`` when the recipe names one.
        recipe (dict | FeatureRecipe, optional): overrides of the feature
            recipe; see :func:`resolve_recipe` for the precedence.
        max_clips (int, optional): longest clip sequence run at once;
            longer videos run as sliding windows. Default: the model's
            ``buffer_size`` (the longest sequence its point buffer holds).
        window_overlap (float): overlap fraction of sliding windows.
        batch_size (int): samples (query x window) per forward.
        clip_precision (str): ``'fp32'`` or ``'fp16'`` CLIP compute.
        video_backend (str): ``'auto'``, ``'decord'`` or ``'pyav'``.

    Example:
        >>> infer = MomentRetrievalInferencer(
        ...     'configs/r2_tuning/r2_tuning_clip-b32_1xb128-30e_'
        ...     'qvhighlights.py', 'r2_tuning_qvhighlights.pth',
        ...     clip_checkpoint='ViT-B-32.pt')
        >>> preds = infer(video='demo.mp4', query=['a dog', 'a cat'])
        >>> preds[0]['pred_relevant_windows'][0]  # [start_s, end_s, score]
    """

    def __init__(self,
                 config: Union[PathLike, Config, dict],
                 checkpoint: Optional[PathLike] = None,
                 device: str = 'cpu',
                 clip_checkpoint: Optional[PathLike] = None,
                 recipe: Union[dict, FeatureRecipe, None] = None,
                 max_clips: Optional[int] = None,
                 window_overlap: float = 0.5,
                 batch_size: int = 32,
                 clip_precision: str = 'fp32',
                 video_backend: str = 'auto') -> None:
        if isinstance(config, (str, os.PathLike)):
            cfg = Config.fromfile(os.fspath(config))
        elif isinstance(config, Config):
            cfg = copy.deepcopy(config)
        else:
            cfg = Config(config)
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        init_default_scope(cfg.get('default_scope', 'vtg_plugins'))
        self.cfg = cfg
        self.model = MODELS.build(cfg.model)
        ckpt_meta = {}
        if checkpoint is not None:
            ckpt = load_checkpoint(
                self.model,
                os.fspath(checkpoint),
                map_location='cpu',
                strict=True)
            if isinstance(ckpt, dict):
                ckpt_meta = ckpt.get('meta') or {}
        self.model.to(device).eval()

        meta = resolve_recipe(cfg, ckpt_meta, recipe)
        if clip_checkpoint is None:
            warnings.warn('no clip_checkpoint: the CLIP feature extractor is '
                          'randomly initialised (only meaningful in tests)')
        self.extractor: FeatureExtractor = build_extractor_from_meta(
            meta,
            checkpoint=clip_checkpoint,
            device=device,
            precision=clip_precision,
            video_backend=video_backend)
        expected = {k: meta[k] for k in RECIPE_KEYS if k in meta}
        for modality in ('video', 'query'):
            check_recipe(
                self.extractor.meta(modality), expected,
                f'the CLIP {modality} features of this inferencer')
        self._check_model_dims()
        self.max_clips = max_clips if max_clips is not None else getattr(
            self.model, 'buffer_size', None)
        self.window_overlap = window_overlap
        self.batch_size = batch_size

    @property
    def recipe(self) -> FeatureRecipe:
        """The feature recipe in use (``weights_hash`` filled in)."""
        return self.extractor.recipe

    def _check_model_dims(self) -> None:
        """Fail early when the model cannot read this recipe's features."""
        enc = self.extractor.encoder
        want = dict(
            video_dims=enc.visual_width,
            query_dims=enc.text_width,
            num_tokens=enc.num_tokens)
        bad = [
            f'{name}: model {getattr(self.model, name)}, features {value}'
            for name, value in want.items()
            if getattr(self.model, name, value) != value
        ]
        k_model = self.cfg.model.get('k')
        if k_model is not None and k_model > self.recipe.k:
            bad.append(f'layers: model uses {k_model}, features have '
                       f'{self.recipe.k}')
        if bad:
            raise ValueError(
                f'the model of this config does not fit the features of '
                f'recipe {self.recipe}: ' + '; '.join(bad))

    # ------------------------------------------------------------------
    def encode_video(self,
                     video: VideoInput,
                     duration: Optional[float] = None) -> Tuple[Tensor, float]:
        """Video features ``[T, k*P*Cv]`` and the duration (s).

        Args:
            video: a video file (decoded and encoded with the recipe), or
                precomputed features ``[T, k, P, Cv]`` / ``[T, k*P*Cv]``.
            duration (float, optional): seconds; default: the container's
                duration for files, ``T * clip_len`` for features.

        Raises:
            FileNotFoundError / VideoDecodeError: naming the file.
            ValueError: features of the wrong shape or not finite.
        """
        clip_len = self.recipe.clip_len
        if isinstance(video, (str, os.PathLike)):
            feats = torch.from_numpy(self.extractor.encode_video(video))
            if duration is None:
                duration = probe_duration(video)
        else:
            feats = torch.as_tensor(video)
            if feats.ndim not in (2, 4) or len(feats) == 0:
                raise ValueError('video features must be [T, k, P, C] or '
                                 f'[T, k*P*C], got {tuple(feats.shape)}')
            if not torch.isfinite(feats).all():
                bad = (~torch.isfinite(feats.flatten(1))).any(1).nonzero()
                raise ValueError('video features hold NaN or inf at clips '
                                 f'{bad[:10, 0].tolist()}')
        feats = feats.flatten(1)
        if duration is None:
            duration = len(feats) * clip_len
        if duration <= 0:
            raise ValueError(f'video duration must be positive, got '
                             f'{duration}')
        return feats, float(duration)

    def encode_queries(self, queries: Sequence[str]) -> List[Tensor]:
        """Query features, one ``[L_i, k*Cq]`` per query (one batch)."""
        return [
            torch.from_numpy(f).flatten(1)
            for f in self.extractor.encode_queries(queries)
        ]

    def _run(self, videos: List[Tensor], queries: List[Tensor],
             samples: List[dict], raw: bool) -> List[dict]:
        """``predict`` (or ``predict_raw``) in batches of ``batch_size``."""
        out = []
        for i in range(0, len(samples), self.batch_size):
            sl = slice(i, i + self.batch_size)
            data = self.model.data_preprocessor(
                dict(
                    inputs=dict(video=videos[sl], query=queries[sl]),
                    data_samples=samples[sl]), False)
            with torch.no_grad():
                fn = self.model.predict_raw if raw else self.model.predict
                out += fn(data['inputs'], data['data_samples'])
        return out

    def __call__(self,
                 video: VideoInput,
                 query: Union[str, Sequence[str]],
                 duration: Optional[float] = None) -> List[dict]:
        """Predict the moments of each query in ``video``.

        Args:
            video: a video file path, or its features (see
                :meth:`encode_video`).
            query (str | list[str]): one or more queries.
            duration (float, optional): video duration (s).

        Returns:
            list[dict]: one per query, in order: ``query``, ``duration``,
            ``pred_relevant_windows`` ``[[start_s, end_s, score], ...]``
            best first (empty for highlight-only models without the
            boundary head), ``pred_saliency_scores`` (one per clip) and, for
            a file, ``vid`` (its stem).
        """
        queries = [query] if isinstance(query, str) else list(query)
        if not queries:
            raise ValueError('no query given')
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise ValueError(f'query {i} is empty or not a string: '
                                 f'{q!r}')
        qfeats = self.encode_queries(queries)
        vfeat, duration = self.encode_video(video, duration)
        spans = sliding_windows(
            len(vfeat), self.max_clips, self.window_overlap)
        fps = self.recipe.fps
        # predict_raw (several windows) ignores the duration
        samples = [
            dict(qid=str(i), query=q, fps=fps, duration=duration)
            for i, q in enumerate(queries) for _ in spans
        ]
        videos = [vfeat[s:e] for _ in queries for s, e in spans]
        qinputs = [f for f in qfeats for _ in spans]
        if len(spans) == 1:
            preds = self._run(videos, qinputs, samples, raw=False)
        else:
            raws = self._run(videos, qinputs, samples, raw=True)
            n = len(spans)
            preds = [
                merge_windows(raws[i * n:(i + 1) * n], spans,
                              self.recipe.clip_len, duration,
                              self.model.max_num_moment, self.model.test_cfg)
                for i in range(len(queries))
            ]
        results = []
        for q, pred in zip(queries, preds):
            res = dict(
                query=q,
                duration=duration,
                pred_relevant_windows=pred.get('pred_relevant_windows', []),
                pred_saliency_scores=pred['pred_saliency_scores'])
            if isinstance(video, (str, os.PathLike)):
                res['vid'] = osp.splitext(osp.basename(os.fspath(video)))[0]
            results.append(res)
        return results
