"""Moment retrieval with any grounding model: a video (or its features)
and free-text queries in, moments and saliency out.

:class:`MomentRetrievalInferencer` builds a model of the ``MODELS``
registry from its config and checkpoint, and the feature extractors of the
*recipes the checkpoint was trained on* (:mod:`vtg_plugins.apis.recipes`),
so a custom video or query gets the features of the training stores.
Samples go through the config's test pipeline and the model's ``predict``
(via ``test_step``), exactly as in testing; a video longer than the model's
``max_input_clips`` runs as overlapping sliding windows whose candidates
are merged with the model's own post-processing
(:mod:`vtg_plugins.apis.grounding_model` lists these extension points).

A video is read and encoded once, whatever the number of queries; the
queries are encoded together, and all (query, window) samples run in
batches of ``batch_size``.
"""
import copy
import os
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import import_modules_from_strings
from torch import Tensor

from vtg_plugins.features import check_recipe
from vtg_plugins.features.extractor import (FeatureExtractor,
                                            build_extractor_from_meta)
from vtg_plugins.registry import INFERENCERS, MODELS
from .grounding_model import SlidingWindowGrounder
from .recipes import (RecipeLike, checked_fields, clip_backbone,
                      evaluation_dataset_cfg, recipe_clip_len,
                      resolve_query_recipe, resolve_recipe)
from .video_inputs import (FeatureFileRecipeCheck, is_feature_file,
                           load_feature_file, probe_duration)
from .windows import merge_window_outputs, sliding_windows

PathLike = Union[str, os.PathLike]
VideoInput = Union[PathLike, np.ndarray, Tensor]


def _load_config(config: Union[PathLike, Config, dict]) -> Config:
    if isinstance(config, (str, os.PathLike)):
        cfg = Config.fromfile(os.fspath(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        cfg = Config(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'vtg_plugins'))
    return cfg


def _as_list(value) -> list:
    return value.tolist() if isinstance(value, Tensor) else list(value)


@INFERENCERS.register_module()
class MomentRetrievalInferencer:
    """Moments (and, where the model has it, saliency) of free-text queries
    in a video.

    Args:
        config (str | Config | dict): the model's config (file path or
            object); its ``custom_imports`` are imported and its
            ``default_scope`` (default ``'vtg_plugins'``) is set. Its test
            (else val) dataset gives the test pipeline.
        checkpoint (str, optional): model weights, a local path or a URL,
            loaded with :func:`mmengine.runner.load_checkpoint` (strict).
            None keeps the random initialisation (tests).
        device (str): torch device. Default ``'cpu'``.
        clip_checkpoint (str, optional): local CLIP weights of the feature
            extractors (never downloaded); None = random-init CLIP, which
            only makes sense for tests (warns). Must match a recipe's
            ``weights_hash`` when the recipe names one.
        recipe (dict | FeatureRecipe, optional): overrides of the video
            feature recipe; see :func:`~.recipes.resolve_recipe`.
        query_recipe (dict | FeatureRecipe, optional): overrides of the
            query recipe; see :func:`~.recipes.resolve_query_recipe`.
        max_clips (int, optional): longest clip sequence run at once;
            longer videos run as sliding windows. Default: the model's
            ``max_input_clips`` (None: no limit).
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
                 recipe: RecipeLike = None,
                 query_recipe: RecipeLike = None,
                 max_clips: Optional[int] = None,
                 window_overlap: float = 0.5,
                 batch_size: int = 32,
                 clip_precision: str = 'fp32',
                 video_backend: str = 'auto') -> None:
        self.cfg = cfg = _load_config(config)
        self.model: SlidingWindowGrounder = MODELS.build(cfg.model)
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
        pipeline = evaluation_dataset_cfg(cfg).get('pipeline')
        if not pipeline:
            raise ValueError('the config has no test (or val) dataset '
                             'pipeline to pack inference samples with')
        self.pipeline = Compose(pipeline)

        model_recipe = getattr(self.model, 'input_feature_recipe', dict)()
        video_recipe = resolve_recipe(cfg, model_recipe, ckpt_meta, recipe)
        query = resolve_query_recipe(cfg, video_recipe, query_recipe)
        if clip_checkpoint is None:
            warnings.warn('no clip_checkpoint: the CLIP feature extractor is '
                          'randomly initialised (only meaningful in tests)')
        #: the recipe of the model's video features (a video extractor's
        #: complete one, ``weights_hash`` included, when there is one)
        self.video_recipe = self._build_extractors(
            video_recipe,
            query,
            checkpoint=clip_checkpoint,
            device=device,
            precision=clip_precision,
            video_backend=video_backend)
        self.clip_len = recipe_clip_len(self.video_recipe)
        if self.clip_len is None:
            raise ValueError(
                f'cannot tell the clip length of the video features (recipe '
                f'{self.video_recipe}): give recipe=dict(clip_len=...) in the '
                f'config or the call')
        self.check_feature_file = FeatureFileRecipeCheck(
            checked_fields(self.video_recipe))
        self.max_clips = max_clips if max_clips is not None else getattr(
            self.model, 'max_input_clips', None)
        self.window_overlap = window_overlap
        self.batch_size = batch_size

    def _build_extractors(self, video_recipe: dict, query: dict,
                          **kwargs) -> dict:
        """Set ``video_extractor`` (None unless ``video_recipe`` names a
        CLIP backbone: videos are then given as features) and
        ``query_extractor`` (the same one when ``query`` is
        ``video_recipe``), check their recipes and return the video
        recipe (the extractor's complete one when there is one).

        Args:
            kwargs: :class:`FeatureExtractor` arguments.
        """
        one_clip = query is video_recipe  # one CLIP encodes both
        if one_clip and clip_backbone(video_recipe) is None:
            raise ValueError(
                f'cannot tell the CLIP backbone of this model\'s features '
                f'(recipe {video_recipe}): give recipe=dict(backbone=...) '
                f'(or, for query features of their own recipe, '
                f'query_recipe=dict(...)) in the config or the call')
        self.video_extractor: Optional[FeatureExtractor] = None
        if clip_backbone(video_recipe) is not None:
            self.video_extractor = build_extractor_from_meta(
                video_recipe, **kwargs)
            check_recipe(
                self.video_extractor.meta('video'),
                checked_fields(video_recipe),
                'the CLIP video features of this inferencer')
        self.query_extractor: FeatureExtractor = (
            self.video_extractor if one_clip else build_extractor_from_meta(
                query, **kwargs))
        # a queries-only recipe records no frame fields: check those it has
        query_meta = self.query_extractor.meta('query')
        check_recipe(query_meta, {
            k: v
            for k, v in checked_fields(query).items() if k in query_meta
        }, 'the CLIP query features of this inferencer')
        if self.video_extractor is None:
            return video_recipe
        return self.video_extractor.meta('video')

    # ------------------------------------------------------------------
    def encode_video(
            self,
            video: VideoInput,
            duration: Optional[float] = None) -> Tuple[np.ndarray, float]:
        """Video features ``[T, ...]`` (one row per clip) and the
        duration (s).

        Args:
            video: a video file (decoded and encoded with the recipe; only
                when it names a CLIP backbone), a feature file
                (``.npy`` / ``.npz`` / ``.pt``, its store's recipe checked),
                or features (array or tensor).
            duration (float, optional): seconds; default: the container's
                duration for video files, ``T * clip_len`` for features.

        Raises:
            FileNotFoundError / VideoDecodeError: naming the file.
            ValueError: a feature file of another recipe, a video file for
                a model whose features cannot be computed here, features
                of the wrong shape or not finite.
        """
        where = 'video features'
        if isinstance(video, (str, os.PathLike)):
            where = f'the features of {video}'
            if is_feature_file(video):
                self.check_feature_file(video)
                feats = load_feature_file(video)
            elif self.video_extractor is None:
                raise ValueError(
                    f'{video}: the video features of this model (recipe '
                    f'{self.video_recipe}) cannot be computed here; give its '
                    f'feature file ([T, D] .npy / .npz / .pt in a feature '
                    f'store whose meta.json holds the recipe) instead')
            else:
                feats = self.video_extractor.encode_video(video)
                if duration is None:
                    duration = probe_duration(video)
        else:
            feats = torch.as_tensor(video).cpu().numpy()
        if feats.ndim < 2 or len(feats) == 0:
            raise ValueError(f'{where} must be [T, ...] with T > 0 clips, '
                             f'got shape {tuple(feats.shape)}')
        finite = np.isfinite(feats.reshape(len(feats), -1)).all(1)
        if not finite.all():
            raise ValueError(f'{where} hold NaN or inf at clips '
                             f'{np.flatnonzero(~finite)[:10].tolist()}')
        if duration is None:
            duration = len(feats) * self.clip_len
        if duration <= 0:
            raise ValueError(f'video duration must be positive, got '
                             f'{duration}')
        return feats, float(duration)

    def encode_queries(self, queries: Sequence[str]) -> List[np.ndarray]:
        """Query features in the query recipe's layout, one per query (one
        batch)."""
        return self.query_extractor.encode_queries(queries)

    def _samples(self, feats: np.ndarray, duration: float, vid: Optional[str],
                 queries: Sequence[str], qfeats: Sequence[np.ndarray],
                 spans: Sequence[Tuple[int, int]]) -> List[dict]:
        """Data infos (as a grounding dataset gives them) of every (query,
        window) pair, query-major; a window of several has its own span as
        ``duration``."""
        infos = []
        for i, (query, qfeat) in enumerate(zip(queries, qfeats)):
            for start, end in spans:
                infos.append(
                    dict(
                        qid=str(i),
                        vid=vid,
                        query=query,
                        duration=duration if len(spans) == 1 else
                        (end - start) * self.clip_len,
                        clip_len=self.clip_len,
                        windows=[],
                        saliency=None,
                        extra={},
                        video_feat=feats[start:end],
                        query_feat=qfeat))
        return infos

    def _run(self, infos: List[dict], candidates: bool) -> list:
        """The test pipeline, then ``test_step`` (or the model's
        ``predict_candidates``), in batches of ``batch_size``."""
        out = []
        for i in range(0, len(infos), self.batch_size):
            data = pseudo_collate(
                [self.pipeline(info) for info in infos[i:i + self.batch_size]])
            with torch.no_grad():
                if not candidates:
                    out += self.model.test_step(data)
                    continue
                data = self.model.data_preprocessor(data, False)
                out += self.model.predict_candidates(data['inputs'],
                                                     data['data_samples'])
        return out

    def _check_windowed(self, num_clips: int) -> None:
        missing = [
            name for name in ('predict_candidates', 'merge_candidates')
            if not callable(getattr(self.model, name, None))
        ]
        if missing:
            raise ValueError(
                f'{type(self.model).__name__} implements no {missing}, so a '
                f'video of {num_clips} clips (more than max_clips='
                f'{self.max_clips}) cannot run as sliding windows; give '
                f'max_clips=None to run it whole')

    def __call__(self,
                 video: VideoInput,
                 query: Union[str, Sequence[str]],
                 duration: Optional[float] = None) -> List[dict]:
        """Predict the moments of each query in ``video``.

        Args:
            video: a video file, a feature file or features (see
                :meth:`encode_video`).
            query (str | list[str]): one or more queries.
            duration (float, optional): video duration (s).

        Returns:
            list[dict]: one per query, in order: ``query``, ``duration``,
            ``pred_relevant_windows`` ``[[start_s, end_s, score], ...]``
            best first (empty for a model without moments),
            ``pred_saliency_scores`` (one per clip, for models with
            saliency) and, for a file, ``vid`` (its stem).
        """
        queries = [query] if isinstance(query, str) else list(query)
        if not queries:
            raise ValueError('no query given')
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise ValueError(f'query {i} is empty or not a string: '
                                 f'{q!r}')
        qfeats = self.encode_queries(queries)
        feats, duration = self.encode_video(video, duration)
        vid = Path(video).stem if isinstance(video,
                                             (str, os.PathLike)) else None
        spans = sliding_windows(
            len(feats), self.max_clips, self.window_overlap)
        if len(spans) > 1:
            self._check_windowed(len(feats))
        infos = self._samples(feats, duration, vid, queries, qfeats, spans)
        outputs = self._run(infos, candidates=len(spans) > 1)
        results = []
        for i, q in enumerate(queries):
            if len(spans) == 1:
                pred = outputs[i]
            else:
                pred = merge_window_outputs(
                    self.model, outputs[i * len(spans):(i + 1) * len(spans)],
                    spans, self.clip_len, duration)
            res = dict(
                query=q,
                duration=duration,
                pred_relevant_windows=_as_list(
                    pred.get('pred_relevant_windows', [])))
            saliency = pred.get('pred_saliency_scores')
            if saliency is not None:
                res['pred_saliency_scores'] = _as_list(saliency)
            if vid is not None:
                res['vid'] = vid
            results.append(res)
        return results
