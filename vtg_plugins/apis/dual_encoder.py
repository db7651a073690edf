"""Zero-shot embeddings of a video-text dual encoder: videos and texts in,
one ``[N, H]`` embedding each out, and their similarity matrix.

:func:`init_dual_encoder` builds a model of the ``MODELS`` registry from its
config and checkpoint; :func:`encode_video` and :func:`encode_text` embed
raw inputs with it, and :func:`similarity` scores them as the model says
they are compared. Nothing here knows a method: what turns a method's raw
inputs into batches and batches into embeddings is its
:class:`ZeroShotEmbedder`, which its project provides for its model
classes::

    build_zero_shot_embedder.register(MyDualEncoder, MyZeroShotEmbedder)

(``MyZeroShotEmbedder(model, cfg)``; the registration holds for the
subclasses too). An embedder follows the model's config: its test (else
val, else train) dataset (:func:`~.recipes.evaluation_dataset_cfg`) gives
the text encoding and the video pipeline, so a raw input becomes what
that dataset would make of it.
"""
import functools
import os
from typing import Any, List, Optional, Protocol, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from torch import Tensor, nn

from vtg_plugins.evaluation.functional.retrieval import \
    similarity as score_matrix
from vtg_plugins.registry import MODELS
from .inferencer import _load_config

PathLike = Union[str, os.PathLike]
#: how embeddings are compared: raw dot products or cosine similarity
SCORES = ('dot', 'cosine')
#: the model attribute :func:`init_dual_encoder` keeps the embedder in
EMBEDDER_ATTR = 'zero_shot_embedder'


class ZeroShotEmbedder(Protocol):
    """What a project provides to embed raw inputs with its dual encoder.

    ``score`` (``'dot'`` or ``'cosine'``)
        How its embeddings are compared (what its retrieval evaluation
        does).
    ``video_batch(videos)`` -> dict
        Raw videos (whatever the method reads: files, feature arrays, data
        infos) as one batch of its test dataloader: the items its test
        dataset would make of them, collated. Errors name the input.
    ``text_batch(texts)`` -> dict
        Non-empty strings as one batch (the text part of its test
        dataloader's batches).
    ``embed_videos(batch)`` / ``embed_texts(batch)`` -> ``Tensor[N, H]``
        The embedding of each video / text of a batch, in order, as the
        model's ``predict`` computes them (the data preprocessor where the
        tower needs it, then the model's own tower). They also take batches
        of the test dataloader.
    """

    score: str

    def video_batch(self, videos: Sequence[Any]) -> dict:
        ...

    def text_batch(self, texts: Sequence[str]) -> dict:
        ...

    def embed_videos(self, batch: dict) -> Tensor:
        ...

    def embed_texts(self, batch: dict) -> Tensor:
        ...


@functools.singledispatch
def build_zero_shot_embedder(model: nn.Module,
                             cfg: Config) -> ZeroShotEmbedder:
    """The :class:`ZeroShotEmbedder` of ``model`` (built from ``cfg``, the
    model's config), as the project of its class registered it.

    Raises:
        TypeError: no project registered one for the model's class.
    """
    raise TypeError(
        f'{type(model).__name__} has no zero-shot embedder: it is not a '
        f'dual encoder, or its project (imported through the config\'s '
        f'custom_imports) registers none with '
        f'build_zero_shot_embedder.register')


def init_dual_encoder(config: Union[PathLike, Config, dict],
                      checkpoint: Optional[PathLike] = None,
                      device: str = 'cpu') -> nn.Module:
    """A dual encoder ready for :func:`encode_video` / :func:`encode_text`.

    Args:
        config (str | Config | dict): the model's config (file path or
            object); its ``custom_imports`` are imported and its
            ``default_scope`` (default ``'vtg_plugins'``) is set.
        checkpoint (str, optional): weights, a local path or a URL, loaded
            with :func:`mmengine.runner.load_checkpoint` (strict). None
            keeps the weights the model is built with (``init_weights`` is
            not called; tests).
        device (str): torch device. Default ``'cpu'``.

    Returns:
        nn.Module: the model in eval mode, with ``cfg`` (the config) and
        ``zero_shot_embedder`` (its :class:`ZeroShotEmbedder`) attributes.

    Raises:
        TypeError: the config's model has no zero-shot embedder.
    """
    cfg = _load_config(config)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(
            model, os.fspath(checkpoint), map_location='cpu', strict=True)
    model.cfg = cfg
    model.to(device).eval()
    setattr(model, EMBEDDER_ATTR, build_zero_shot_embedder(model, cfg))
    return model


def _embedder(model: nn.Module) -> ZeroShotEmbedder:
    """The model's embedder, built from ``model.cfg`` on first use."""
    embedder = getattr(model, EMBEDDER_ATTR, None)
    if embedder is None:
        cfg = getattr(model, 'cfg', None)
        if cfg is None:
            raise ValueError(
                f'{type(model).__name__} has no config to embed inputs '
                'with: build it with init_dual_encoder(config, checkpoint) '
                '(or set model.cfg)')
        embedder = build_zero_shot_embedder(model, cfg)
        setattr(model, EMBEDDER_ATTR, embedder)
    return embedder


def _as_items(inputs: Any, single: tuple, what: str) -> list:
    """``inputs`` as a list: one input of a ``single`` type in a list of
    its own, a sequence as it is; refuses an empty one."""
    items = [inputs] if isinstance(inputs, single) else list(inputs)
    if not items:
        raise ValueError(f'no {what} given')
    return items


def _embed(embedder: ZeroShotEmbedder, kind: str, items: list,
           batch_size: int) -> Tensor:
    """``embedder.embed_{kind}s(embedder.{kind}_batch(chunk))`` over chunks
    of ``batch_size`` items, without gradients, checked and on the CPU."""
    if batch_size < 1:
        raise ValueError(f'batch_size must be positive, got {batch_size}')
    make_batch = getattr(embedder, f'{kind}_batch')
    embed = getattr(embedder, f'embed_{kind}s')
    out: List[Tensor] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        with torch.no_grad():
            emb = embed(make_batch(chunk))
        if emb.dim() != 2 or len(emb) != len(chunk):
            raise ValueError(
                f'{type(embedder).__name__} embedded {len(chunk)} {kind}s '
                f'as shape {list(emb.shape)}, expected [{len(chunk)}, H]')
        out.append(emb.detach().float().cpu())
    return torch.cat(out)


def encode_video(model: nn.Module, videos: Any, batch_size: int = 8) -> Tensor:
    """Embeddings ``[N, H]`` (float32, CPU) of videos, in order.

    Args:
        model (nn.Module): from :func:`init_dual_encoder`.
        videos: one video or a list of them, as the model's embedder reads
            them (e.g. a feature file or ``[T, D]`` array, a video file, a
            data info dict); a lone path, array, tensor or dict is one
            video.
        batch_size (int): videos per forward.

    The model is used in the mode it is in (:func:`init_dual_encoder`
    leaves it in eval mode).
    """
    items = _as_items(videos, (str, os.PathLike, np.ndarray, Tensor, dict),
                      'video')
    return _embed(_embedder(model), 'video', items, batch_size)


def encode_text(model: nn.Module,
                texts: Union[str, Sequence[str]],
                batch_size: int = 64) -> Tensor:
    """Embeddings ``[N, H]`` (float32, CPU) of texts, in order.

    Args:
        model (nn.Module): from :func:`init_dual_encoder`.
        texts (str | Sequence[str]): one text or a list of them.
        batch_size (int): texts per forward.

    Raises:
        ValueError: a text that is not a string or is blank.
    """
    items = _as_items(texts, (str, ), 'text')
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f'text {i} is empty or not a string: {text!r}')
    return _embed(_embedder(model), 'text', items, batch_size)


def similarity(text_emb: Union[Tensor, np.ndarray],
               video_emb: Union[Tensor, np.ndarray],
               score: Union[str, nn.Module]) -> Tensor:
    """Scores ``[Nt, Nv]`` (float64) of every text against every video,
    higher is more similar; the same arithmetic as the retrieval metrics
    (:func:`vtg_plugins.evaluation.functional.similarity`).

    Args:
        text_emb: ``[Nt, H]`` from :func:`encode_text`.
        video_emb: ``[Nv, H]`` from :func:`encode_video`.
        score (str | nn.Module): ``'dot'`` (raw dot products), ``'cosine'``
            (L2-normalised first), or the model, whose embedder declares
            which.
    """
    if isinstance(score, nn.Module):
        score = _embedder(score).score
    if score not in SCORES:
        raise ValueError(f'score must be one of {SCORES} or a dual encoder, '
                         f'got {score!r}')
    text, video = (
        torch.as_tensor(x).detach().cpu().numpy()
        for x in (text_emb, video_emb))
    if text.ndim != 2 or video.ndim != 2 or text.shape[1] != video.shape[1]:
        raise ValueError(f'expected text [Nt, H] and video [Nv, H] '
                         f'embeddings, got {list(text.shape)} and '
                         f'{list(video.shape)}')
    return torch.from_numpy(
        score_matrix(text, video, normalize=score == 'cosine'))
